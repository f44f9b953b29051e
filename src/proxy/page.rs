//! The failure view: what a developer sees in the browser when the build is broken or the app
//! crashed. One view, rendered here only: hot's 503 page is this view alone, and the live-reload
//! script puts the very same markup over the app's page (from the `build-failed` event). It is
//! opaque and on top of everything, shows the compiler's colours, and turns every `file:line`
//! of the project into a link that opens the developer's editor there.

use std::path::Path;

use super::inject::SCRIPT_TAG;
use crate::ui::ansi;

/// Why no app is running, or why the running one is out of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line: "the build failed (exited with code 2)", "the app exited with code 1".
    pub headline: String,
    /// What was changed before it failed ("src/main.rs changed"), if known.
    pub after: Option<String>,
    /// The build's output (its tail) as the compiler printed it, colours included; or empty.
    pub output: String,
    /// When it failed, in ms since the Unix epoch (the page says how long ago).
    pub at_ms: u64,
}

/// The view's element, with everything it needs inline (the app's own CSS must not reach it).
/// `token` lets the page ask hot to open a file; `root` decides which paths are the project's.
pub fn view(failure: &Failure, root: &Path, token: &str) -> String {
    let mut html = String::with_capacity(failure.output.len() * 2 + 2048);
    html.push_str(
        "<div id=\"__hot_failure\" role=\"alert\" style=\"all:initial;position:fixed;inset:0;\
         z-index:2147483647;box-sizing:border-box;overflow:auto;padding:24px 28px;margin:0;\
         background:#18181b;opacity:1;color:#e4e4e7;\
         font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;\
         display:block;text-align:left\" data-token=\"",
    );
    ansi::escape_into(&mut html, token);
    html.push_str(
        "\"><style>#__hot_failure a{color:#93c5fd;text-decoration:underline;cursor:pointer}\
         #__hot_failure a:hover{color:#bfdbfe}</style>\
         <div style=\"color:#f87171;font:bold 16px/1.4 system-ui,sans-serif\">",
    );
    let mut headline = capitalised(&failure.headline);
    if let Some(after) = &failure.after {
        headline.push_str(" after ");
        headline.push_str(after);
    }
    ansi::escape_into(&mut html, &headline);
    html.push_str(
        "</div><div style=\"color:#a1a1aa;font:13px/1.6 system-ui,sans-serif;margin:4px 0 16px\">",
    );
    html.push_str(&format!(
        "<time data-hot-at=\"{}\">just now</time> · fix it and save: this page reloads by itself \
         once the app is back",
        failure.at_ms
    ));
    html.push_str(
        "</div><pre style=\"all:initial;display:block;white-space:pre-wrap;color:#e4e4e7;\
         font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:0\">",
    );
    html.push_str(&ansi::to_html(&failure.output, |run| {
        crate::editor::locations(run, root)
            .into_iter()
            .map(|(range, location)| ansi::Link {
                range,
                target: location.to_string(),
            })
            .collect()
    }));
    html.push_str("</pre></div>");
    html
}

/// hot's 503 page for a browser: the view, and the live-reload script that reloads it into the
/// app's page once a fixed build is ready.
pub fn failure_html(failure: &Failure, root: &Path, token: &str) -> String {
    let mut title = String::new();
    ansi::escape_into(&mut title, &capitalised(&failure.headline));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · hot</title></head>\n<body style=\"margin:0;background:#18181b\">{}{SCRIPT_TAG}\
         </body></html>\n",
        view(failure, root, token)
    )
}

/// The same for a client that did not ask for HTML (curl, a load tester): plain text.
pub fn failure_text(failure: &Failure) -> String {
    let mut text = format!(
        "hot: {}; waiting for a change\n",
        failure.headline.trim_end()
    );
    if !failure.output.is_empty() {
        text.push('\n');
        text.push_str(&ansi::strip(&failure.output));
        if !failure.output.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_output_is_escaped_and_coloured() {
        let failure = Failure {
            headline: "the build failed (exited with code 1)".into(),
            after: Some("src/main.go changed".into()),
            output: "main.go:3: expected <ident>, found \"&\" \x1b[31mred\x1b[0m".into(),
            at_ms: 1,
        };
        let page = failure_html(&failure, Path::new("/nonexistent"), "t0k\"n");
        assert!(
            page.contains("expected &lt;ident&gt;, found &quot;&amp;&quot;"),
            "{page}"
        );
        assert!(
            page.contains("<span style=\"color:#ef4444;\">red</span>"),
            "{page}"
        );
        assert!(page.contains("The build failed (exited with code 1) after src/main.go changed"));
        assert!(page.contains("data-token=\"t0k&quot;n\""));
        assert!(page.contains(SCRIPT_TAG));
        assert!(!failure_text(&failure).contains('\x1b'));
    }
}
