//! The operations tier: an SNS topic with the on-call e-mail, CPU alarms on the web
//! servers and the database, and the IAM user that deploys the stack, whose policy is
//! exactly the actions stackup calls for the resources this program declares.

use std::collections::BTreeMap;

use stackup_aws::cloudwatch::MetricAlarmArgs;
use stackup_aws::iam::{PolicyStatement, UserArgs, UserPolicyArgs};
use stackup_aws::sns::{SubscriptionArgs, TopicArgs};
use stackup_model::{Handle, Input, ResourceArgs, StackBuilder};

use crate::data::Data;
use crate::web::Web;
use crate::Platform;

pub struct Operations {
    pub topic: Handle<TopicArgs>,
}

fn name_tag(stack: &StackBuilder, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("Name".to_string(), format!("{}-{name}", stack.stack()))])
}

pub fn declare(stack: &mut StackBuilder, platform: Platform<'_>, web: &Web, data: &Data) -> Operations {
    let s = stack.stack().to_string();
    let monitoring = platform.monitoring;
    let topic = stack.declare(
        "alarms",
        TopicArgs {
            name: format!("{s}-alarms"),
            tags: name_tag(stack, "alarms"),
        },
    );
    stack.declare(
        "alarms-email",
        SubscriptionArgs {
            topic_arn: topic.id(),
            protocol: "email".into(),
            endpoint: monitoring.alarm_email.clone(),
        },
    );
    let alarm = |stack: &mut StackBuilder,
                 name: &str,
                 description: String,
                 namespace: &str,
                 dimension: (&str, Input<String>),
                 threshold: f64| {
        stack.declare(
            name,
            MetricAlarmArgs {
                name: format!("{s}-{name}"),
                description,
                namespace: namespace.into(),
                metric_name: "CPUUtilization".into(),
                statistic: "Average".into(),
                dimensions: BTreeMap::from([(dimension.0.to_string(), dimension.1)]),
                period_seconds: 300,
                evaluation_periods: 2,
                threshold,
                comparison: "GreaterThanThreshold".into(),
                alarm_actions: vec![topic.id()],
                ok_actions: vec![topic.id()],
                tags: name_tag(stack, name),
            },
        );
    };
    alarm(
        stack,
        "web-cpu-high",
        format!(
            "Web servers above {}% CPU for 10 minutes",
            monitoring.ec2_cpu_alarm_threshold
        ),
        "AWS/EC2",
        ("AutoScalingGroupName", web.group.output("name")),
        monitoring.ec2_cpu_alarm_threshold,
    );
    alarm(
        stack,
        "db-cpu-high",
        format!(
            "Database above {}% CPU for 10 minutes",
            monitoring.rds_cpu_alarm_threshold
        ),
        "AWS/RDS",
        ("DBInstanceIdentifier", data.db.id()),
        monitoring.rds_cpu_alarm_threshold,
    );

    // Declared last: its policy covers every type declared before it, and its own.
    let user = stack.declare(
        "deployer",
        UserArgs {
            name: format!("{s}-deployer"),
            tags: name_tag(stack, "deployer"),
        },
    );
    let mut actions = stack.iam_actions();
    actions.extend(UserPolicyArgs::IAM_ACTIONS.iter().map(|a| a.to_string()));
    actions.sort();
    actions.dedup();
    stack.declare(
        "deployer-policy",
        UserPolicyArgs {
            user_name: user.output("name"),
            name: "stackup-deploy".into(),
            statements: vec![PolicyStatement {
                effect: "Allow".into(),
                actions,
                resources: vec!["*".to_string().into()],
            }],
        },
    );
    Operations { topic }
}
