//! The pages hot answers with itself.

use super::inject::SCRIPT_TAG;

/// Why no app is running, for the 503 page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line: "the build failed (exit 2)", "the app exited with code 1".
    pub headline: String,
    /// The build's output (its tail), or empty.
    pub output: String,
}

/// The 503 page for a browser: the failure, the output, and the live-reload script so that it
/// turns into the app's page by itself once a fixed build is ready.
pub fn failure_html(failure: &Failure) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · hot</title>\
         <style>body{{margin:0;padding:24px;background:#18181b;color:#f4f4f5;\
         font:14px/1.5 ui-monospace,Menlo,monospace}}h1{{color:#f87171;font-size:18px}}\
         pre{{white-space:pre-wrap}}p{{color:#a1a1aa}}</style></head>\n<body>\
         <h1>{title}</h1><p>hot is waiting for a change; this page reloads by itself once \
         the app is back.</p><pre id=\"output\">{output}</pre>{SCRIPT_TAG}</body></html>\n",
        title = escape(&failure.headline),
        output = escape(&failure.output),
    )
}

/// The same for a client that did not ask for HTML (curl, a load tester).
pub fn failure_text(failure: &Failure) -> String {
    let mut text = format!(
        "hot: {}; waiting for a change\n",
        failure.headline.trim_end()
    );
    if !failure.output.is_empty() {
        text.push('\n');
        text.push_str(&failure.output);
        if !failure.output.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// Build output without the terminal's colour codes (`ESC [ ... letter`).
pub fn plain_text(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_dropped() {
        assert_eq!(plain_text("\x1b[1;31merror\x1b[0m: x"), "error: x");
    }

    #[test]
    fn compiler_output_is_escaped() {
        let page = failure_html(&Failure {
            headline: "the build failed (exit 1)".into(),
            output: "main.go:3: expected <ident>, found \"&\"".into(),
        });
        assert!(page.contains("expected &lt;ident&gt;, found &quot;&amp;&quot;"));
        assert!(page.contains(SCRIPT_TAG));
    }
}
