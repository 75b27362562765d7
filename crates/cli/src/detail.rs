//! Values as `--diff` shows them: short values on one line; long ones over several (a
//! list one element a line, a map one key a line, a JSON document such as an IAM
//! policy pretty-printed, a script line by line); and a change of a long value as a
//! line diff of those lines (`similar`), with a few lines of context, so that one
//! changed statement of a policy or one changed rule of a list is one `-` and one `+`
//! line instead of two 6,000-character lines.

use similar::{ChangeTag, TextDiff};
use stackup_model::Value;

/// Longest value shown on one line.
const WIDTH: usize = 80;

/// Longest element of a list shown on one line: an element (a rule, an ACL entry) is
/// the unit a list changes by, so it stays whole on its line when it reasonably can.
const ELEMENT_WIDTH: usize = 200;

/// Unchanged lines shown around each change of a long value.
const CONTEXT: usize = 2;

/// The lines `v` is shown as: one when it is short, several otherwise.
pub fn lines(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => {
            if let Some(pretty) = json_document(s) {
                return pretty.lines().map(str::to_string).collect();
            }
            if s.contains('\n') {
                return s.lines().map(str::to_string).collect();
            }
            vec![v.to_string()]
        }
        Value::List(items) if v.to_string().len() > WIDTH => {
            let mut out = vec!["[".to_string()];
            for item in items {
                let one = item.to_string();
                let inner = if one.len() <= ELEMENT_WIDTH && !matches!(item, Value::String(_)) {
                    vec![one]
                } else {
                    lines(item)
                };
                let last = inner.len().saturating_sub(1);
                out.extend(inner.into_iter().enumerate().map(|(i, l)| {
                    if i == last {
                        format!("  {l},")
                    } else {
                        format!("  {l}")
                    }
                }));
            }
            out.push("]".to_string());
            out
        }
        Value::Map(m) if v.to_string().len() > WIDTH => {
            let mut out = vec!["{".to_string()];
            for (k, item) in m {
                let inner = lines(item);
                let last = inner.len().saturating_sub(1);
                for (i, l) in inner.into_iter().enumerate() {
                    let text = if i == 0 {
                        format!("  {k}: {l}")
                    } else {
                        format!("  {l}")
                    };
                    out.push(if i == last { format!("{text},") } else { text });
                }
            }
            out.push("}".to_string());
            out
        }
        other => vec![other.to_string()],
    }
}

/// `s` pretty-printed, when it holds a JSON object or array.
fn json_document(s: &str) -> Option<String> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(s).ok()?;
    serde_json::to_string_pretty(&doc).ok()
}

/// How `key` changing from `old` to `new` is shown, each line without indentation:
/// `key: old => new` when both are short, otherwise `key:` and a line diff (`- `,
/// `+ `, and `  ` for context; `  ...` where unchanged lines are left out).
pub fn change(key: &str, old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let (old_lines, new_lines) = (old.map(lines), new.map(lines));
    let single = |l: &Option<Vec<String>>| l.as_ref().is_none_or(|l| l.len() == 1);
    if single(&old_lines) && single(&new_lines) {
        let one = |l: Option<Vec<String>>| l.and_then(|l| l.into_iter().next()).unwrap_or_else(|| "(none)".into());
        return vec![format!("{key}: {} => {}", one(old_lines), one(new_lines))];
    }
    let (old_text, new_text) = (
        old_lines.unwrap_or_default().join("\n") + "\n",
        new_lines.unwrap_or_default().join("\n") + "\n",
    );
    let diff = TextDiff::from_lines(&old_text, &new_text);
    let mut out = vec![format!("{key}:")];
    for (i, group) in diff.grouped_ops(CONTEXT).iter().enumerate() {
        if i > 0 {
            out.push("  ...".to_string());
        }
        for op in group {
            for c in diff.iter_changes(op) {
                let sign = match c.tag() {
                    ChangeTag::Delete => "- ",
                    ChangeTag::Insert => "+ ",
                    ChangeTag::Equal => "  ",
                };
                out.push(format!("{sign}{}", c.value().trim_end_matches('\n')));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(actions: &[&str]) -> Value {
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        });
        Value::String(doc.to_string())
    }

    #[test]
    fn short_values_are_one_line_and_long_ones_one_element_or_key_a_line() {
        assert_eq!(lines(&Value::Int(3)), ["3"]);
        assert_eq!(lines(&Value::String("10.0.0.0/16".into())), ["\"10.0.0.0/16\""]);
        let long: Vec<Value> = (0..12).map(|i| Value::String(format!("10.0.{i}.0/24"))).collect();
        let shown = lines(&Value::List(long));
        assert_eq!(shown.len(), 14, "{shown:?}");
        assert_eq!(shown[1], "  \"10.0.0.0/24\",");
        assert_eq!(
            lines(&Value::String("#!/bin/sh\necho hi\n".into())),
            ["#!/bin/sh", "echo hi"]
        );
    }

    #[test]
    fn a_policy_is_pretty_printed_and_a_changed_action_is_one_line_each_way() {
        let shown = lines(&policy(&["s3:GetObject"]));
        assert!(shown.len() > 5 && shown.iter().all(|l| l.len() < WIDTH), "{shown:?}");
        let before = policy(&["ec2:CreateVpc", "ec2:DeleteVpc", "s3:GetObject", "s3:PutObject"]);
        let after = policy(&["ec2:CreateVpc", "ec2:DeleteVpc", "s3:GetObject", "sns:Publish"]);
        let diff = change("policy", Some(&before), Some(&after));
        assert_eq!(diff[0], "policy:");
        let removed: Vec<&String> = diff.iter().filter(|l| l.starts_with("- ")).collect();
        let added: Vec<&String> = diff.iter().filter(|l| l.starts_with("+ ")).collect();
        assert_eq!(removed.len(), 1, "{diff:#?}");
        assert!(removed[0].contains("s3:PutObject"), "{diff:#?}");
        assert_eq!(added.len(), 1, "{diff:#?}");
        assert!(added[0].contains("sns:Publish"), "{diff:#?}");
        assert!(
            !diff.iter().any(|l| l.contains("Version")),
            "far context is left out: {diff:#?}"
        );
    }

    #[test]
    fn a_changed_element_of_a_long_list_is_shown_alone() {
        let rule = |n: i64, cidr: &str| {
            let mut m = stackup_model::Properties::new();
            m.insert("rule_number".into(), Value::Int(n));
            m.insert("cidr_block".into(), Value::String(cidr.into()));
            m.insert("protocol".into(), Value::String("tcp".into()));
            Value::Map(m)
        };
        let old = Value::List((1..=6).map(|n| rule(n * 10, "0.0.0.0/0")).collect());
        let mut rules: Vec<Value> = (1..=6).map(|n| rule(n * 10, "0.0.0.0/0")).collect();
        rules[3] = rule(40, "203.0.113.0/24");
        let diff = change("ingress", Some(&old), Some(&Value::List(rules)));
        let changed: Vec<&String> = diff
            .iter()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .collect();
        assert_eq!(changed.len(), 2, "{diff:#?}");
        assert!(
            changed[1].contains("203.0.113.0/24") && changed[1].contains("40"),
            "{diff:#?}"
        );
        // Short values stay on one line.
        assert_eq!(
            change("port", Some(&Value::Int(80)), Some(&Value::Int(8080))),
            ["port: 80 => 8080"]
        );
        assert_eq!(change("name", None, Some(&Value::Int(1))), ["name: (none) => 1"]);
    }
}
