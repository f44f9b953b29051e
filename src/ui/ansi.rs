//! A compiler's colours, rendered for each reader: kept for a terminal, removed for a log file,
//! a pipe or `--json`, turned into HTML for the browser.
//!
//! Only SGR sequences (`ESC [ … m`) carry colour; every other escape sequence (cursor moves,
//! line erases, OSC titles and hyperlinks) is dropped from both the plain and the HTML text.

use std::fmt::Write as _;

/// Removes escape sequences from a stream that arrives in pieces: a sequence cut in two by a
/// read is still recognised.
#[derive(Debug, Default)]
pub struct Stripper {
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// Inside `ESC [`, until a final byte (0x40–0x7e).
    Csi,
    /// Inside `ESC ]`, until BEL or `ESC \`.
    Osc,
    /// ESC inside an OSC: `\` ends it.
    OscEscape,
}

impl Stripper {
    /// `chunk` without escape sequences (or the parts of them it holds).
    pub fn strip(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            self.state = match (self.state, b) {
                (State::Text, 0x1b) => State::Escape,
                (State::Text, _) => {
                    out.push(b);
                    State::Text
                }
                (State::Escape, b'[') => State::Csi,
                (State::Escape, b']') => State::Osc,
                // A two-byte sequence (ESC 7, ESC =, …).
                (State::Escape, _) => State::Text,
                (State::Csi, 0x40..=0x7e) => State::Text,
                (State::Csi, _) => State::Csi,
                (State::Osc, 0x07) => State::Text,
                (State::Osc, 0x1b) => State::OscEscape,
                (State::Osc, _) => State::Osc,
                (State::OscEscape, b'\\') => State::Text,
                (State::OscEscape, _) => State::Osc,
            };
        }
        out
    }
}

/// `text` without escape sequences.
pub fn strip(text: &str) -> String {
    String::from_utf8_lossy(&Stripper::default().strip(text.as_bytes())).into_owned()
}

/// The look that SGR sequences set.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Style {
    fg: Option<Colour>,
    bg: Option<Colour>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    /// One of the 256 terminal colours.
    Indexed(u8),
    Rgb(u8, u8, u8),
}

impl Style {
    fn is_plain(&self) -> bool {
        *self == Style::default()
    }

    fn css(&self) -> String {
        let mut css = String::new();
        if let Some(fg) = self.fg {
            let _ = write!(css, "color:{};", hex(fg));
        }
        if let Some(bg) = self.bg {
            let _ = write!(css, "background:{};", hex(bg));
        }
        if self.bold {
            css.push_str("font-weight:bold;");
        }
        if self.dim {
            css.push_str("opacity:.7;");
        }
        if self.italic {
            css.push_str("font-style:italic;");
        }
        if self.underline {
            css.push_str("text-decoration:underline;");
        }
        css
    }

    /// Applies one SGR sequence's parameters.
    fn apply(&mut self, params: &str) {
        let mut codes = params.split([';', ':']).map(|p| {
            if p.is_empty() {
                0
            } else {
                p.parse().unwrap_or(u16::MAX)
            }
        });
        while let Some(code) = codes.next() {
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some(Colour::Indexed((code - 30) as u8)),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Colour::Indexed((code - 40) as u8)),
                49 => self.bg = None,
                90..=97 => self.fg = Some(Colour::Indexed((code - 90 + 8) as u8)),
                100..=107 => self.bg = Some(Colour::Indexed((code - 100 + 8) as u8)),
                38 | 48 => {
                    let colour = match codes.next() {
                        Some(5) => codes
                            .next()
                            .and_then(|n| u8::try_from(n).ok())
                            .map(Colour::Indexed),
                        Some(2) => {
                            let mut c = || codes.next().and_then(|n| u8::try_from(n).ok());
                            match (c(), c(), c()) {
                                (Some(r), Some(g), Some(b)) => Some(Colour::Rgb(r, g, b)),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    if code == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The 16 base colours, as they read on the failure view's dark background.
const BASE: [(u8, u8, u8); 16] = [
    (0x3f, 0x3f, 0x46),
    (0xef, 0x44, 0x44),
    (0x22, 0xc5, 0x5e),
    (0xea, 0xb3, 0x08),
    (0x3b, 0x82, 0xf6),
    (0xa8, 0x55, 0xf7),
    (0x06, 0xb6, 0xd4),
    (0xd4, 0xd4, 0xd8),
    (0x71, 0x71, 0x7a),
    (0xf8, 0x71, 0x71),
    (0x4a, 0xde, 0x80),
    (0xfa, 0xcc, 0x15),
    (0x60, 0xa5, 0xfa),
    (0xc0, 0x84, 0xfc),
    (0x22, 0xd3, 0xee),
    (0xfa, 0xfa, 0xfa),
];

fn rgb(colour: Colour) -> (u8, u8, u8) {
    match colour {
        Colour::Rgb(r, g, b) => (r, g, b),
        Colour::Indexed(n @ 0..=15) => BASE[n as usize],
        Colour::Indexed(n @ 16..=231) => {
            let n = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(n / 36), level(n / 6 % 6), level(n % 6))
        }
        Colour::Indexed(n) => {
            let v = 8 + (n - 232) * 10;
            (v, v, v)
        }
    }
}

fn hex(colour: Colour) -> String {
    let (r, g, b) = rgb(colour);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A stretch of `text` to be shown as a link (byte range, and the link's target).
pub struct Link {
    pub range: std::ops::Range<usize>,
    pub target: String,
}

/// `text` (with SGR colours) as HTML: colours become styled spans, everything else is escaped,
/// and the stretches `links` finds in each run of plain text become `<a>` elements carrying
/// their target in `data-hot-open`.
pub fn to_html(text: &str, links: impl Fn(&str) -> Vec<Link>) -> String {
    let mut html = String::with_capacity(text.len() * 2);
    let mut style = Style::default();
    let mut rest = text;
    while !rest.is_empty() {
        let (run, after) = match rest.find('\x1b') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if !run.is_empty() {
            let open = !style.is_plain();
            if open {
                let _ = write!(html, "<span style=\"{}\">", style.css());
            }
            linked(&mut html, run, &links);
            if open {
                html.push_str("</span>");
            }
        }
        rest = after;
        if rest.is_empty() {
            break;
        }
        // An escape sequence: SGR changes the style; the rest is dropped.
        let seq = &rest[1..];
        if let Some(csi) = seq.strip_prefix('[') {
            let end = csi
                .find(|c: char| ('\x40'..='\x7e').contains(&c))
                .unwrap_or(csi.len());
            if csi[end..].starts_with('m') {
                style.apply(&csi[..end]);
            }
            rest = csi.get(end + 1..).unwrap_or("");
        } else if let Some(osc) = seq.strip_prefix(']') {
            let end = osc.find(['\x07', '\x1b']).map_or(osc.len(), |i| {
                i + if osc[i..].starts_with('\x1b') { 2 } else { 1 }
            });
            rest = osc.get(end..).unwrap_or("");
        } else {
            let mut chars = seq.chars();
            chars.next();
            rest = chars.as_str();
        }
    }
    html
}

/// `run` escaped, with the stretches `links` finds as links.
fn linked(html: &mut String, run: &str, links: &impl Fn(&str) -> Vec<Link>) {
    let mut at = 0;
    for link in links(run) {
        if link.range.start < at || link.range.end > run.len() {
            continue;
        }
        escape_into(html, &run[at..link.range.start]);
        let _ = write!(html, "<a href=\"#\" class=\"hot-open\" data-hot-open=\"");
        escape_into(html, &link.target);
        html.push_str("\">");
        escape_into(html, &run[link.range.clone()]);
        html.push_str("</a>");
        at = link.range.end;
    }
    escape_into(html, &run[at..]);
}

pub fn escape_into(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '&' => html.push_str("&amp;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            _ => html.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What rustc prints for an error with CARGO_TERM_COLOR=always.
    const RUSTC: &str = "\x1b[0m\x1b[1m\x1b[38;5;9merror[E0308]\x1b[0m\x1b[0m\x1b[1m: mismatched \
                         types\x1b[0m\n\x1b[0m \x1b[0m\x1b[0m\x1b[1m\x1b[38;5;12m--> \
                         \x1b[0m\x1b[0msrc/main.rs:3:5\x1b[0m\n";

    #[test]
    fn stripping_survives_a_sequence_cut_between_reads() {
        let bytes = RUSTC.as_bytes();
        for cut in 0..bytes.len() {
            let mut s = Stripper::default();
            let mut out = s.strip(&bytes[..cut]);
            out.extend(s.strip(&bytes[cut..]));
            assert_eq!(
                String::from_utf8_lossy(&out),
                "error[E0308]: mismatched types\n --> src/main.rs:3:5\n",
                "cut at {cut}"
            );
        }
        assert_eq!(
            strip("\x1b]8;;file:///x\x1b\\link\x1b]8;;\x1b\\ \x1b[2K"),
            "link "
        );
    }

    #[test]
    fn colours_become_spans_and_everything_else_is_escaped() {
        let html = to_html(RUSTC, |_| Vec::new());
        assert!(
            html.contains("<span style=\"color:#f87171;font-weight:bold;\">error[E0308]</span>"),
            "{html}"
        );
        assert!(!html.contains('\x1b'), "{html}");
        let html = to_html("\x1b[31m<script>&\x1b[0m", |_| Vec::new());
        assert_eq!(
            html,
            "<span style=\"color:#ef4444;\">&lt;script&gt;&amp;</span>"
        );
        assert_eq!(
            to_html("\x1b[38;2;1;2;3mx", |_| Vec::new()),
            "<span style=\"color:#010203;\">x</span>"
        );
    }

    #[test]
    fn found_locations_become_links() {
        let html = to_html(RUSTC, |run| {
            run.find("src/main.rs:3:5")
                .map(|at| Link {
                    range: at..at + 15,
                    target: "src/main.rs:3:5".into(),
                })
                .into_iter()
                .collect()
        });
        assert!(
            html.contains(
                "<a href=\"#\" class=\"hot-open\" data-hot-open=\"src/main.rs:3:5\">src/main.rs:3:5</a>"
            ),
            "{html}"
        );
    }
}
