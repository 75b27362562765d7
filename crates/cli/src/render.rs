//! Everything that reaches the terminal: plans, drift, progress, summaries, errors.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackup_engine::{EngineError, RunReport};
use stackup_executor::{ApplyReport, Event, NodeOutcome, Observer, ResourceDrift};
use stackup_model::{Urn, Value};
use stackup_planner::{Action, OpKind, Plan, PropertyChange};

/// Colour only for a terminal, and never when NO_COLOR is set.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn paint(text: &str, code: &str) -> String {
    if color_enabled() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn action_color(a: Action) -> &'static str {
    match a {
        Action::Create => "32",
        Action::Update => "33",
        Action::Delete => "31",
        Action::CreateThenDelete | Action::DeleteThenCreate => "35",
        Action::Same => "0",
    }
}

pub fn error(e: &anyhow::Error) {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        text.push_str(&format!(": {cause}"));
    }
    eprintln!("{} {}", paint("error:", "31;1"), text.trim_end());
}

/// The human form of a plan: one line per resource that changes (and per lookup read),
/// grouped by type, with the keys that change; every attribute with `detail`
/// (`--diff`).
pub fn plan(plan: &Plan, drift: &[ResourceDrift], detail: bool) {
    if detail {
        plan_detail(plan, drift);
    } else {
        plan_brief(plan, drift);
    }
}

/// What a step does, in a word: `create`, `update`, `replace`, `delete`, `adopt`.
fn verb(step: &stackup_planner::Step) -> &'static str {
    match (step.adopted, step.action) {
        (true, Action::Same) => "adopt",
        (true, _) => "adopt+",
        (_, Action::Create) => "create",
        (_, Action::Update) => "update",
        (_, Action::CreateThenDelete | Action::DeleteThenCreate) => "replace",
        (_, Action::Delete) => "delete",
        (_, Action::Same) => "same",
    }
}

/// The keys a step changes, briefly: `[~tags, ~image_id (replaces)]`; its first note
/// when it changes no key (a tainted object replaced).
fn brief_changes(step: &stackup_planner::Step) -> String {
    if matches!(step.action, Action::Create | Action::Delete) {
        return if step.retired {
            "(object left by an earlier replacement)".into()
        } else {
            String::new()
        };
    }
    let keys: Vec<String> = step
        .changes
        .list()
        .iter()
        .map(|c| {
            if c.forces_replacement {
                format!("~{} (replaces)", c.key)
            } else {
                format!("~{}", c.key)
            }
        })
        .collect();
    let mut info = if keys.is_empty() {
        String::new()
    } else {
        format!("[{}]", keys.join(", "))
    };
    if let Some(note) = step.notes.first() {
        if !info.is_empty() {
            info.push(' ');
        }
        info.push_str(note);
    }
    info
}

fn plan_brief(plan: &Plan, drift: &[ResourceDrift]) {
    print_drift(drift, Some(plan));
    let mut rows: Vec<(String, String, String, &str, String)> = Vec::new();
    for read in &plan.reads {
        let found = ["value", "id"]
            .iter()
            .find_map(|k| read.outputs.get(*k))
            .map(|v| v.to_string())
            .unwrap_or_default();
        rows.push((
            "<=".into(),
            read.ty.to_string(),
            read.urn.name().to_string(),
            "36",
            format!("read {found}"),
        ));
    }
    let mut steps: Vec<&stackup_planner::Step> = plan.changed_steps().collect();
    steps.sort_by(|a, b| (a.ty.as_str(), a.urn.name()).cmp(&(b.ty.as_str(), b.urn.name())));
    for step in steps {
        let symbol = if step.adopted { "=" } else { step.action.symbol() };
        let info = format!("{} {}", verb(step), brief_changes(step));
        rows.push((
            symbol.into(),
            step.ty.to_string(),
            step.urn.name().to_string(),
            action_color(step.action),
            info.trim_end().to_string(),
        ));
    }
    let type_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(4).max(4);
    let name_width = rows.iter().map(|r| r.2.len()).max().unwrap_or(4).max(4);
    plan_counts(plan);
    if rows.is_empty() {
        println!("No changes: the stack matches the program.");
        return;
    }
    let mut last_type = String::new();
    for (symbol, ty, name, color, info) in rows {
        // Repeated types are left blank: the rows of a type read as one group.
        let shown_type = if ty == last_type { String::new() } else { ty.clone() };
        last_type = ty;
        let line = format!("{symbol:>3} {shown_type:<type_width$}  {name:<name_width$}  {info}");
        println!("{}", paint(line.trim_end(), color));
    }
    if plan.has_changes() {
        println!("(`--diff` shows every attribute of every change.)");
    }
}

/// The plan's first line: what it does, in counts.
fn plan_counts(plan: &Plan) {
    let c = plan.counts();
    let adopt = if c.adopt > 0 {
        format!("; {} to adopt from AWS", c.adopt)
    } else {
        String::new()
    };
    println!(
        "Plan for stack {}: {} to create, {} to update, {} to replace, {} to delete, {} unchanged{adopt}.",
        plan.stack, c.create, c.update, c.replace, c.delete, c.same
    );
}

/// Every attribute of every change.
fn plan_detail(plan: &Plan, drift: &[ResourceDrift]) {
    print_drift(drift, Some(plan));
    plan_counts(plan);
    for read in &plan.reads {
        // Lookups: read, never changed; what each found.
        println!();
        println!("{}  read", paint(&format!("<= {}", read.urn), "36"));
        for (key, value) in &read.outputs {
            if !matches!(value, Value::Map(m) if m.is_empty()) {
                println!("      {key}: {value}");
            }
        }
    }
    for step in plan.changed_steps() {
        println!();
        let symbol = if step.adopted { "=" } else { step.action.symbol() };
        let head = format!("{symbol:>2} {}", step.urn);
        let retired = if step.retired {
            " (object left by an earlier replacement)"
        } else {
            ""
        };
        let action = match (step.adopted, step.action) {
            (true, Action::Same) => "adopt (it exists in AWS; state did not record it)".to_string(),
            (true, action) => format!("adopt (it exists in AWS; state did not record it), then {action}"),
            (false, action) => action.to_string(),
        };
        println!("{}  {action}{retired}", paint(&head, action_color(step.action)));
        for note in &step.notes {
            println!("      note: {note}");
        }
        for change in step.changes.list().iter() {
            print_change(change, step.action);
        }
    }
    if !plan.has_changes() {
        println!("No changes: the stack matches the program.");
    }
}

fn print_change(c: &PropertyChange, action: Action) {
    let replace = if c.forces_replacement {
        paint("  (forces replacement)", "35")
    } else {
        String::new()
    };
    let print = |shown: Vec<String>| {
        for (i, line) in shown.iter().enumerate() {
            let tail = if i == 0 { replace.as_str() } else { "" };
            let line = match line.get(..2) {
                Some("- ") => paint(line, "31"),
                Some("+ ") => paint(line, "32"),
                _ => line.clone(),
            };
            println!("      {line}{tail}");
        }
    };
    match (action, &c.old, &c.new) {
        (Action::Create, _, Some(v)) | (Action::Delete, Some(v), _) => {
            let shown = crate::detail::lines(v);
            match shown.as_slice() {
                [one] => println!("      {}: {one}", c.key),
                _ => {
                    println!("      {}:", c.key);
                    shown.iter().for_each(|l| println!("        {l}"));
                }
            }
        }
        (_, Some(Value::Map(old)), Some(Value::Map(new))) if !c.forces_replacement => {
            // Maps (tags) are shown key by key, so a changed tag is one line.
            let keys: std::collections::BTreeSet<&stackup_model::Key> = old.keys().chain(new.keys()).collect();
            for k in keys {
                let (o, n) = (old.get(k.as_str()), new.get(k.as_str()));
                if o != n {
                    print(crate::detail::change(&format!("{}.{k}", c.key), o, n));
                }
            }
        }
        (_, old, new) => print(crate::detail::change(&c.key, old.as_ref(), new.as_ref())),
    }
}

fn show(v: Option<&Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into())
}

pub fn drift(drift: &[ResourceDrift]) {
    print_drift(drift, None);
}

/// One line naming a drifted resource and how, for notifications.
pub fn drift_line(d: &ResourceDrift) -> String {
    match d {
        ResourceDrift::Deleted { urn } => format!("{urn}: deleted outside stackup"),
        ResourceDrift::Unmanaged { urn, id, .. } => format!("{urn}: {id} carries the stack's tag but is not in state"),
        ResourceDrift::Changed { urn, attributes } => {
            let keys: Vec<&str> = attributes.iter().map(|a| a.key.as_str()).collect();
            format!("{urn}: {} changed outside stackup", keys.join(", "))
        }
    }
}

/// Drift, and when a plan is given, what `up` would do about each drifted attribute.
fn print_drift(drift: &[ResourceDrift], plan: Option<&Plan>) {
    if drift.is_empty() {
        return;
    }
    println!(
        "Drift: {} resource(s) differ from what stackup last applied.",
        drift.len()
    );
    for d in drift {
        let step = plan.and_then(|p| p.steps.iter().find(|s| &s.urn == d.urn() && !s.retired));
        match d {
            ResourceDrift::Deleted { urn } => {
                println!("  {} {urn}  deleted outside stackup; up recreates it", paint("!", "31"))
            }
            ResourceDrift::Unmanaged { urn, id, .. } => println!(
                "  {} {urn}  {id} carries the stack's tag but is not in state; up leaves it alone (delete it, or adopt it with stackup import)",
                paint("?", "33")
            ),
            ResourceDrift::Changed { urn, attributes } => {
                println!("  {} {urn}", paint("!", "33"));
                for a in attributes {
                    let listed = step.map(|s| s.changes.list());
                    let planned = listed.as_deref().and_then(|l| l.iter().find(|c| c.key == a.key));
                    let shown = crate::detail::change(&a.key, a.recorded.as_ref(), a.live.as_ref());
                    if shown.len() > 1 {
                        // A long value (a policy, a rule list): what changed, line by line.
                        let outcome = match planned {
                            Some(_) => "up sets the program's value again",
                            None => "the program now matches the live value; up keeps it",
                        };
                        println!("      {}: changed outside stackup (- recorded, + live); {outcome}", a.key);
                        shown.iter().skip(1).for_each(|l| println!("        {l}"));
                        continue;
                    }
                    let outcome = match planned {
                        Some(c) => format!("up sets {}", show(c.new.as_ref())),
                        None => "the program now matches the live value; up keeps it".to_string(),
                    };
                    println!(
                        "      {}: recorded {}, live {}; {outcome}",
                        a.key,
                        show(a.recorded.as_ref()),
                        show(a.live.as_ref())
                    );
                }
            }
        }
    }
    println!();
}

/// An operation in flight: when it started, and what it last reported waiting for.
type Running = (Instant, Option<String>);

/// The live progress view of `up` and `destroy`. On a terminal: an indicatif status
/// line (elapsed, done/total, what runs now and what each waits for), with a line above
/// it for each failure, ending where the summary starts. Without a terminal
/// (CI logs): one line per finished or failed operation, and every ten seconds the
/// operations still running.
pub struct Progress {
    total: usize,
    finished: AtomicUsize,
    /// Operations in flight: when each started and what it last reported waiting for.
    running: Mutex<BTreeMap<(Urn, String), Running>>,
    started: Instant,
    quiet: bool,
    /// The live status line, on a terminal.
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Arc<Progress> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template("  [{elapsed:>4}] {pos}/{len} done  {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Arc::new(Progress {
            total,
            finished: AtomicUsize::new(0),
            running: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            quiet,
            bar,
        })
    }

    /// What runs now, for the status line or the ten-second report: `creating vpc (3s;
    /// waiting for available)`.
    fn running_list(&self) -> Vec<String> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .iter()
            .map(|((urn, verb), (t, waiting))| match waiting {
                Some(w) => format!("{verb} {} ({}s; {w})", urn.name(), t.elapsed().as_secs()),
                None => format!("{verb} {} ({}s)", urn.name(), t.elapsed().as_secs()),
            })
            .collect()
    }

    fn refresh_bar(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.finished.load(Ordering::SeqCst) as u64);
            bar.set_message(self.running_list().join(", "));
        }
    }

    /// Ends the status line, before the summary.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Every ten seconds, without a terminal, prints what is still running (and keeps
    /// the status line's timers moving on one), until the returned task is aborted.
    pub fn spawn_ticker(self: &Arc<Progress>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if me.bar.is_some() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    me.refresh_bar();
                    continue;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                let list = me.running_list();
                if me.quiet || list.is_empty() {
                    continue;
                }
                eprintln!(
                    "  [{:>5.1}s] still running: {}",
                    me.started.elapsed().as_secs_f64(),
                    list.join(", ")
                );
            }
        })
    }

    fn line(&self, symbol: &str, color: &str, text: &str) {
        if self.quiet {
            return;
        }
        let done = self.finished.load(Ordering::SeqCst);
        let line = format!(
            "  [{:>5.1}s {done:>3}/{} done] {} {text}",
            self.started.elapsed().as_secs_f64(),
            self.total,
            paint(symbol, color),
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: Event) {
        match event {
            Event::Started { urn, kind } => {
                self.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((urn.clone(), kind.progressive().to_string()), (Instant::now(), None));
                // A start is shown on the status line; the log gets one line per end.
                self.refresh_bar();
            }
            Event::Finished { urn, kind, elapsed } => {
                self.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(urn.clone(), kind.progressive().to_string()));
                self.finished.fetch_add(1, Ordering::SeqCst);
                self.refresh_bar();
                if self.bar.is_some() {
                    // On a terminal the status line counts it; the log lines are for logs.
                    return;
                }
                self.line(
                    "ok",
                    "32",
                    &format!(
                        "{} {urn} ({:.1}s)",
                        kind.progressive().replace("ing", "ed"),
                        elapsed.as_secs_f64()
                    ),
                );
            }
            Event::Waiting { urn, kind, status } => {
                if let Some(entry) = self
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&(urn, kind.progressive().to_string()))
                {
                    entry.1 = Some(status);
                }
                self.refresh_bar();
            }
            Event::Failed { urn, kind, error } => {
                self.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(urn.clone(), kind.progressive().to_string()));
                self.finished.fetch_add(1, Ordering::SeqCst);
                self.refresh_bar();
                self.line("!!", "31", &format!("{} {urn} failed: {error}", kind.progressive()));
            }
            Event::Checkpoint { urn, kind, phase } => crate::host::crash_test_hook(&urn, kind, phase),
        }
    }
}

/// The end-of-run summary. Failures are reported as root causes; what they blocked is
/// counted, not repeated.
pub fn summary(report: &ApplyReport) {
    let created = report.done(OpKind::Create);
    let updated = report.done(OpKind::Update);
    let replaced = report.done(OpKind::CreateReplacement);
    let deleted = report.done(OpKind::Delete);
    let failures = report.failures();
    println!();
    println!(
        "{} in {:.1}s: {created} created, {updated} updated, {replaced} replaced, {deleted} deleted, {} failed, {} skipped, {} not started.",
        if report.cancelled() > 0 && failures.is_empty() {
            paint("Interrupted", "33;1")
        } else if report.is_success() {
            paint("Done", "32;1")
        } else {
            paint("Finished with errors", "31;1")
        },
        report.elapsed.as_secs_f64(),
        failures.len(),
        report.skipped(),
        report.cancelled(),
    );
    // The same cause (an endpoint gone, credentials refused) once, with the others it
    // failed named after it.
    for (first, error, others) in same_causes(&failures) {
        println!("  {} {first}: {error}", paint("failed", "31"));
        if !others.is_empty() {
            println!(
                "  {} more failed the same way: {}",
                others.len(),
                others.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let blocked: usize = report.skipped();
    if blocked > 0 {
        println!("  {blocked} operation(s) were skipped because something they depend on failed; run `stackup up` again after fixing the cause.");
    }
}

/// Failures grouped by cause (their error without the leading action, `CreateVpc: `):
/// the first failure of each cause with its error, and the URNs of the others.
fn same_causes<'a>(failures: &[&'a stackup_executor::OpResult]) -> Vec<(&'a Urn, String, Vec<&'a Urn>)> {
    let mut groups: Vec<(&Urn, String, String, Vec<&Urn>)> = Vec::new();
    for f in failures {
        let NodeOutcome::Failed(e) = &f.outcome else { continue };
        let error = e.to_string();
        let cause = error.split_once(": ").map_or(error.as_str(), |(_, c)| c).to_string();
        match groups.iter_mut().find(|g| g.2 == cause) {
            Some(g) => g.3.push(&f.urn),
            None => groups.push((&f.urn, error, cause, Vec::new())),
        }
    }
    groups
        .into_iter()
        .map(|(first, error, _, others)| (first, error, others))
        .collect()
}

/// Prints a report's JSON (its own serialization) on stdout.
pub fn print_json<T: serde::Serialize + ?Sized>(report: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}

/// The subject and body of the drift notice `diff --notify-topic` sends.
pub fn drift_notice(stack: &str, preview: &stackup_engine::PreviewReport) -> (String, String) {
    let (plan, drift) = (&preview.plan, &preview.drift);
    let c = plan.counts();
    let mut message = format!(
        "stackup diff found drift or pending changes in stack {stack}.\n{} resource(s) drifted; plan: {} to create, {} to update, {} to replace, {} to delete.\n",
        drift.len(),
        c.create,
        c.update,
        c.replace,
        c.delete
    );
    for d in drift {
        message.push_str(&format!("  - {}\n", drift_line(d)));
    }
    message.push_str("\nDetails: stackup diff --stack ");
    message.push_str(stack);
    (format!("stackup: drift in stack {stack}"), message)
}

/// What `refresh` recorded.
pub fn refreshed(report: &stackup_engine::RefreshReport) {
    drift(&report.drift);
    if report.drift.is_empty() {
        println!("Refreshed {} resource(s): state matches AWS.", report.read);
    } else {
        println!("Recorded the live state of {} resource(s).", report.drift.len());
    }
}

/// A stack's outputs, one per line.
pub fn outputs(stack: &str, outputs: &[(String, Value)]) {
    println!("Outputs of stack {stack}:");
    for (name, v) in outputs {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => "(not created)".into(),
            other => other.to_string(),
        };
        println!("  {name:<28} {text}");
    }
}

/// A failed refresh, with what the user can do about it.
pub fn refresh_hint(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Refresh(why) => {
            anyhow::anyhow!("reading live state from AWS (use --no-refresh to plan from recorded state alone): {why}")
        }
        other => other.into(),
    }
}

/// Prints a run's summary and maps it to the exit code.
pub fn finish(report: &RunReport, json: bool) -> anyhow::Result<u8> {
    match (&report.applied, json) {
        (Some(applied), true) => print_json(applied)?,
        (None, true) => print_json(&ApplyReport::default())?,
        (Some(applied), false) => summary(applied),
        (None, false) => {}
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_one_cause_are_said_once_with_the_others_named() {
        let failed = |urn: &str, error: &str| stackup_executor::OpResult {
            urn: Urn::parse(urn).expect("urn"),
            kind: OpKind::Create,
            outcome: NodeOutcome::Failed(stackup_executor::StepError::Engine(error.into())),
            root_cause: None,
        };
        let results = [
            failed("s::aws:ec2:Vpc::a", "CreateVpc: connection refused"),
            failed("s::aws:s3:Bucket::b", "CreateBucket: bucket name taken"),
            failed("s::aws:sns:Topic::c", "CreateTopic: connection refused"),
        ];
        let failures: Vec<&stackup_executor::OpResult> = results.iter().collect();
        let groups = same_causes(&failures);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1, "CreateVpc: connection refused");
        assert_eq!(groups[0].2, [&results[2].urn]);
        assert!(groups[1].2.is_empty());
    }
    use stackup_executor::AttributeDrift;
    use stackup_model::TypeToken;

    fn vpc(name: &str) -> Urn {
        Urn::new("dev", &TypeToken::from_static("aws:ec2:Vpc"), name)
    }

    fn drifts() -> Vec<ResourceDrift> {
        vec![
            ResourceDrift::Deleted { urn: vpc("gone") },
            ResourceDrift::Unmanaged {
                urn: vpc("stray"),
                ty: TypeToken::from_static("aws:ec2:Vpc"),
                id: "vpc-9".into(),
            },
            ResourceDrift::Changed {
                urn: vpc("main"),
                attributes: vec![
                    AttributeDrift {
                        key: "cidr".into(),
                        recorded: Some(Value::String("10.0.0.0/16".into())),
                        live: Some(Value::String("10.1.0.0/16".into())),
                    },
                    AttributeDrift {
                        key: "tags".into(),
                        recorded: None,
                        live: None,
                    },
                ],
            },
        ]
    }

    #[test]
    fn each_kind_of_drift_is_one_line_naming_the_resource_and_what_happened() {
        let lines: Vec<String> = drifts().iter().map(drift_line).collect();
        assert_eq!(
            lines,
            [
                "dev::aws:ec2:Vpc::gone: deleted outside stackup",
                "dev::aws:ec2:Vpc::stray: vpc-9 carries the stack's tag but is not in state",
                "dev::aws:ec2:Vpc::main: cidr, tags changed outside stackup",
            ]
        );
    }

    #[test]
    fn a_drift_notice_names_the_stack_counts_and_every_drifted_resource() {
        let preview = stackup_engine::PreviewReport {
            plan: Plan {
                stack: "dev".into(),
                steps: Vec::new(),
                reads: Vec::new(),
            },
            drift: drifts(),
        };
        let (subject, body) = drift_notice("dev", &preview);
        assert_eq!(subject, "stackup: drift in stack dev");
        assert!(body.starts_with("stackup diff found drift or pending changes in stack dev.\n3 resource(s) drifted; plan: 0 to create, 0 to update, 0 to replace, 0 to delete."), "{body}");
        assert_eq!(body.matches("\n  - dev::aws:ec2:Vpc::").count(), 3, "{body}");
        assert!(body.ends_with("Details: stackup diff --stack dev"), "{body}");
    }

    #[test]
    fn a_failed_refresh_tells_how_to_plan_without_it_and_other_errors_pass_through() {
        let hinted = refresh_hint(EngineError::Refresh("throttled".into())).to_string();
        assert!(
            hinted.contains("--no-refresh") && hinted.ends_with("throttled"),
            "{hinted}"
        );
        let other = refresh_hint(EngineError::Target("--target x: no".into())).to_string();
        assert_eq!(other, "--target x: no");
    }

    #[test]
    fn a_shown_value_is_its_text_or_none() {
        assert_eq!(show(None), "(none)");
        assert_eq!(show(Some(&Value::Bool(true))), "true");
    }

    #[test]
    fn an_empty_run_summarizes_as_successful_json_with_no_results() {
        let json = serde_json::to_value(ApplyReport::default()).expect("serializes");
        assert_eq!(json["success"], true);
        assert_eq!(json["results"], serde_json::json!([]));
    }
}
