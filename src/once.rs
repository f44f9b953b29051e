//! `hot --once`, the CI smoke test: build, start the app on the sockets, wait until it is ready,
//! stop it, and say so with the exit status (0 ready, 1 build failed, 3 app failed).
//!
//! It is a session like any other (the same Supervisor, readiness, proxy and stop behaviour)
//! with the goal `Goal::Check`; what is here is the summary it ends with.

use crate::cli::Cli;
use crate::error::Error;
use crate::session::{self, Facts, Purpose};
use crate::supervise::Verdict;
use crate::ui::{Reporter, human};

pub fn run(cli: Cli) -> Result<u8, Error> {
    let json = cli.json;
    let ended = session::run(cli, Purpose::SmokeTest)?;
    let reporter = Reporter::new(json);
    // None for an app stopped by a signal before its verdict; the status says which.
    for (name, verdict, facts) in &ended.conclusions {
        let line = summary(verdict, facts);
        let named = |line: String| match name {
            Some(name) => format!("{name}: {line}"),
            None => line,
        };
        match line {
            Ok(line) => reporter.note(named(line)),
            Err(line) => reporter.warn(named(line)),
        }
    }
    Ok(ended.code)
}

/// The closing line: `Ok` for a pass, `Err` for a failure.
pub fn summary(verdict: &Verdict, facts: &Facts) -> Result<String, String> {
    let built = facts.built_ms.map(human);
    let app_ms = human(facts.app_ms.unwrap_or(0));
    match verdict {
        Verdict::Built => Ok(format!(
            "--once: built in {}; no [run] cmd to start",
            built.unwrap_or_else(|| human(0))
        )),
        Verdict::Ready { .. } => {
            let built = built
                .map(|b| format!("built in {b} · "))
                .unwrap_or_default();
            Ok(format!("--once ok: {built}ready in {app_ms}"))
        }
        Verdict::Finished { .. } => {
            let built = built
                .map(|b| format!("built in {b} · "))
                .unwrap_or_default();
            Ok(format!(
                "--once ok: {built}the app finished with code 0 after {app_ms}"
            ))
        }
        Verdict::BuildFailed(outcome) => Err(format!("--once failed: the build {outcome}")),
        Verdict::AppFailed { outcome, .. } => {
            Err(format!("--once failed: the app {outcome} after {app_ms}"))
        }
        Verdict::NotReady { .. } => {
            let awaited = facts
                .awaited
                .as_deref()
                .unwrap_or("the app was not ready in time");
            Err(match &facts.last_attempt {
                Some(last) => format!("--once failed: {awaited} (last attempt: {last})"),
                None => format!("--once failed: {awaited}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AppId, Outcome};

    #[test]
    fn the_summary_names_what_failed() {
        let facts = Facts {
            built_ms: Some(1200),
            app_ms: Some(120),
            awaited: Some(
                "no HTTP answer below 500 for GET / on 127.0.0.1:8080 within 30 s".into(),
            ),
            last_attempt: Some("HTTP 503".into()),
        };
        let app = AppId(1);
        let failed = Outcome {
            code: Some(1),
            signal: None,
        };
        assert_eq!(
            summary(
                &Verdict::AppFailed {
                    app,
                    outcome: failed
                },
                &facts
            ),
            Err("--once failed: the app exited with code 1 after 120 ms".into())
        );
        assert_eq!(
            summary(&Verdict::BuildFailed(failed), &facts),
            Err("--once failed: the build exited with code 1".into())
        );
        let not_ready = summary(
            &Verdict::NotReady {
                app,
                within: std::time::Duration::from_secs(30),
            },
            &facts,
        );
        assert_eq!(
            not_ready,
            Err(
                "--once failed: no HTTP answer below 500 for GET / on 127.0.0.1:8080 within 30 s \
                 (last attempt: HTTP 503)"
                    .into()
            )
        );
        let ready = summary(
            &Verdict::Ready {
                app,
                via: crate::event::ReadyVia::Http,
            },
            &facts,
        );
        assert!(ready.is_ok_and(|line| line.starts_with("--once ok: built in")));
    }
}
