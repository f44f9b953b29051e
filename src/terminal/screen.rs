//! What an app's output has done to the terminal it is shown on: which modes it switched on
//! (the alternate screen, a hidden cursor, mouse reporting, bracketed paste, application keys,
//! the kitty keyboard protocol, colours, a scrolling region), whether a byte stream stopped in
//! the middle of an escape sequence or a UTF-8 character, and whether the cursor is at the start
//! of a line.
//!
//! hot relays an interactive app's output to the real terminal. The app may be killed in the
//! middle of a frame: then `restore` says what undoes what it left on, and hot writes its own
//! bytes only where `at_boundary` says they cannot land inside one of the app's sequences.
//! Parsing follows ECMA-48's shape (ESC, CSI parameters / intermediates / final byte, strings
//! ended by BEL or ST); CAN and SUB abort a sequence, as in terminals.

/// DEC private modes that change how the terminal behaves for whoever uses it next, with the
/// value that is the terminal's default (`true`: set, `h`).
const TRACKED: &[(u16, bool)] = &[
    (1, false),    // application cursor keys
    (7, true),     // auto-wrap
    (9, false),    // X10 mouse
    (25, true),    // cursor visible
    (1000, false), // mouse buttons
    (1001, false), // mouse highlight
    (1002, false), // mouse drag
    (1003, false), // mouse motion
    (1004, false), // focus events
    (1005, false), // UTF-8 mouse coordinates
    (1006, false), // SGR mouse coordinates
    (1015, false), // urxvt mouse coordinates
    (1016, false), // SGR pixel mouse coordinates
    (2004, false), // bracketed paste
    (2026, false), // synchronized output: left on, the terminal stops drawing
];

/// The alternate screen, in its three spellings.
const ALTERNATE: &[u16] = &[47, 1047, 1049];

/// The longest parameter string kept of one sequence; a longer one is still parsed through,
/// its parameters ignored (the output of a hostile or broken app costs no memory).
const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Parse {
    #[default]
    Ground,
    /// After ESC.
    Escape,
    /// ESC then intermediate bytes (`ESC ( B`), until a final byte.
    EscapeIntermediate,
    /// ESC [ parameters, intermediates, until a final byte.
    Csi { params: Vec<u8>, overflow: bool },
    /// OSC, DCS, SOS, PM or APC: a string ended by BEL or ST (ESC \).
    String,
    /// ESC inside a string: ST if `\` follows.
    StringEscape,
}

/// The modes an app's output left on, and where the stream stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    parse: Parse,
    /// Continuation bytes still due of a UTF-8 character.
    utf8_due: u8,
    /// Tracked modes that differ from their default.
    changed: Vec<u16>,
    /// Which spelling switched to the alternate screen, while it is on.
    alternate: Option<u16>,
    /// Keypad in application mode (`ESC =`).
    keypad: bool,
    /// Kitty keyboard protocol levels pushed (`CSI > flags u`) and not popped.
    kitty: u16,
    /// Colours or attributes set and not reset.
    styled: bool,
    /// A scrolling region set.
    region: bool,
    /// The cursor is at the start of a line, as far as the stream tells.
    line_start: bool,
}

impl Screen {
    pub fn new() -> Screen {
        Screen {
            line_start: true,
            ..Screen::default()
        }
    }

    /// Takes in the next bytes of the app's output.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.byte(byte);
        }
    }

    /// Whether the app shows a full-screen frame (the alternate screen).
    pub fn full_screen(&self) -> bool {
        self.alternate.is_some()
    }

    /// Whether the app hid the cursor (a TUI drawing in place does, a line editor does not).
    pub fn cursor_hidden(&self) -> bool {
        self.changed.contains(&25)
    }

    /// Whether bytes written now land between the app's sequences and characters, not inside.
    pub fn at_boundary(&self) -> bool {
        self.parse == Parse::Ground && self.utf8_due == 0
    }

    /// Whether the cursor is at the start of a line (after a newline or carriage return, with
    /// nothing printed since and no cursor movement that hot cannot follow).
    pub fn at_line_start(&self) -> bool {
        self.line_start && self.at_boundary()
    }

    /// Whether everything the app switched on is back to the terminal's defaults.
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty()
            && self.alternate.is_none()
            && !self.keypad
            && self.kitty == 0
            && !self.styled
            && !self.region
    }

    /// The bytes that end a sequence left unfinished and switch off everything the app left
    /// on, in an order that leaves the main screen last (so the resets apply to it as well).
    /// Empty when there is nothing to undo.
    pub fn restore(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.parse {
            Parse::Ground => {}
            // CAN ends any sequence in progress; a string also needs its terminator.
            Parse::String | Parse::StringEscape => out.extend_from_slice(b"\x1b\\"),
            _ => out.push(0x18),
        }
        if self.utf8_due > 0 {
            // Not a continuation byte: the terminal drops the broken character.
            out.push(0x18);
        }
        if self.is_clean() {
            return out;
        }
        // Drawing first: with synchronized output on, nothing else would show.
        if self.changed.contains(&2026) {
            out.extend_from_slice(b"\x1b[?2026l");
        }
        if self.region {
            out.extend_from_slice(b"\x1b[r");
        }
        if self.styled {
            out.extend_from_slice(b"\x1b[0m");
        }
        if self.kitty > 0 {
            out.extend_from_slice(format!("\x1b[<{}u", self.kitty).as_bytes());
        }
        if self.keypad {
            out.extend_from_slice(b"\x1b>");
        }
        for &(mode, default) in TRACKED.iter().filter(|(m, _)| *m != 2026) {
            if self.changed.contains(&mode) {
                let end = if default { 'h' } else { 'l' };
                out.extend_from_slice(format!("\x1b[?{mode}{end}").as_bytes());
            }
        }
        if let Some(mode) = self.alternate {
            out.extend_from_slice(format!("\x1b[?{mode}l").as_bytes());
        }
        out
    }

    fn byte(&mut self, byte: u8) {
        // CAN and SUB abort a sequence in progress; ESC starts a new one from anywhere but a
        // string, where it may be the start of ST.
        match (byte, &self.parse) {
            (0x18 | 0x1a, _) => {
                self.parse = Parse::Ground;
                self.utf8_due = 0;
                return;
            }
            (0x1b, Parse::String) => {
                self.parse = Parse::StringEscape;
                return;
            }
            (0x1b, _) => {
                self.parse = Parse::Escape;
                self.utf8_due = 0;
                return;
            }
            _ => {}
        }
        match std::mem::take(&mut self.parse) {
            Parse::Ground => self.ground(byte),
            Parse::Escape => self.escape(byte),
            Parse::EscapeIntermediate => {
                self.parse = match byte {
                    0x20..=0x2f => Parse::EscapeIntermediate,
                    // A final byte ends it; a control character in between is executed.
                    0x30..=0x7e => Parse::Ground,
                    _ => Parse::EscapeIntermediate,
                };
            }
            Parse::Csi {
                mut params,
                mut overflow,
            } => match byte {
                0x20..=0x3f => {
                    if params.len() < MAX_PARAMS {
                        params.push(byte);
                    } else {
                        overflow = true;
                    }
                    self.parse = Parse::Csi { params, overflow };
                }
                0x40..=0x7e => {
                    if !overflow {
                        self.csi(&params, byte);
                    } else {
                        self.line_start = false;
                    }
                }
                // Controls inside a CSI are executed; the sequence goes on.
                _ => self.parse = Parse::Csi { params, overflow },
            },
            Parse::String => {
                self.parse = if byte == 0x07 {
                    Parse::Ground
                } else {
                    Parse::String
                };
            }
            Parse::StringEscape => {
                if byte != b'\\' {
                    // Not ST: the string ended at the ESC, which starts a sequence of its own.
                    self.escape(byte);
                }
            }
        }
    }

    fn ground(&mut self, byte: u8) {
        match byte {
            b'\n' | b'\r' => self.line_start = true,
            0x00..=0x1f | 0x7f => {
                // BEL and other controls do not move the cursor sideways, except backspace
                // and tab.
                if matches!(byte, 0x08 | 0x09) {
                    self.line_start = false;
                }
            }
            0x80..=0xbf => {
                self.utf8_due = self.utf8_due.saturating_sub(1);
                self.line_start = false;
            }
            0xc0..=0xdf => self.start_utf8(1),
            0xe0..=0xef => self.start_utf8(2),
            0xf0..=0xff => self.start_utf8(3),
            _ => {
                self.utf8_due = 0;
                self.line_start = false;
            }
        }
    }

    fn start_utf8(&mut self, due: u8) {
        self.utf8_due = due;
        self.line_start = false;
    }

    fn escape(&mut self, byte: u8) {
        self.parse = match byte {
            b'[' => Parse::Csi {
                params: Vec::new(),
                overflow: false,
            },
            b']' | b'P' | b'X' | b'^' | b'_' => Parse::String,
            0x20..=0x2f => Parse::EscapeIntermediate,
            b'=' => {
                self.keypad = true;
                Parse::Ground
            }
            b'>' => {
                self.keypad = false;
                Parse::Ground
            }
            b'c' => {
                // RIS: the terminal is reset to its initial state.
                *self = Screen::new();
                Parse::Ground
            }
            // Index, reverse index, next line, restore cursor...: the cursor may move.
            _ => {
                self.line_start = false;
                Parse::Ground
            }
        };
    }

    fn csi(&mut self, params: &[u8], end: u8) {
        let (marker, rest) = match params.first() {
            Some(m @ (b'?' | b'>' | b'<' | b'=')) => (Some(*m), &params[1..]),
            _ => (None, params),
        };
        // Parameters with intermediates among them are some other sequence.
        if rest
            .iter()
            .any(|b| !(b.is_ascii_digit() || *b == b';' || *b == b':'))
        {
            self.line_start = false;
            return;
        }
        let numbers = || {
            rest.split(|b| *b == b';').map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|p| p.split(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
            })
        };
        match (marker, end) {
            (Some(b'?'), b'h' | b'l') => {
                for mode in numbers().flatten() {
                    self.set_mode(mode, end == b'h');
                }
            }
            (None, b'm') => {
                let params: Vec<u16> = numbers().map(|p| p.unwrap_or(0)).collect();
                if params.is_empty() {
                    self.styled = false;
                }
                let mut i = 0;
                while let Some(&p) = params.get(i) {
                    match p {
                        0 => self.styled = false,
                        // Extended colours: their arguments are not attributes.
                        38 | 48 | 58 => {
                            self.styled = true;
                            i += match params.get(i + 1) {
                                Some(5) => 2,
                                Some(2) => 4,
                                _ => 0,
                            };
                        }
                        _ => self.styled = true,
                    }
                    i += 1;
                }
            }
            (None, b'r') => self.region = !rest.is_empty() && rest != b";",
            (Some(b'>'), b'u') => self.kitty = self.kitty.saturating_add(1).min(64),
            (Some(b'<'), b'u') => {
                let pop = numbers().next().flatten().unwrap_or(1).max(1);
                self.kitty = self.kitty.saturating_sub(pop);
            }
            (None, b'h' | b'l') => {}
            // Cursor position, movement, erasing...: hot no longer knows the column.
            _ => self.line_start = false,
        }
    }

    fn set_mode(&mut self, mode: u16, on: bool) {
        if ALTERNATE.contains(&mode) {
            self.alternate = on.then_some(mode);
            return;
        }
        if let Some(&(_, default)) = TRACKED.iter().find(|(m, _)| *m == mode) {
            self.changed.retain(|m| *m != mode);
            if on != default {
                self.changed.push(mode);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(bytes: &[u8]) -> Screen {
        let mut s = Screen::new();
        s.feed(bytes);
        s
    }

    #[test]
    fn a_killed_full_screen_app_is_undone() {
        let s = fed(b"\x1b[?1049h\x1b[?25l\x1b[?1002;1006h\x1b[?2004h\x1b[1;31mframe");
        assert!(s.full_screen());
        assert!(s.at_boundary());
        let restore = String::from_utf8(s.restore()).expect("ascii");
        assert_eq!(
            restore,
            "\x1b[0m\x1b[?25h\x1b[?1002l\x1b[?1006l\x1b[?2004l\x1b[?1049l"
        );
        let mut after = s.clone();
        after.feed(restore.as_bytes());
        assert!(after.is_clean(), "{after:?}");
    }

    #[test]
    fn what_the_app_undid_itself_needs_nothing() {
        let s = fed(b"\x1b[?1049h\x1b[?25l\x1b[31mx\x1b[0m\x1b[?25h\x1b[?1049l");
        assert!(s.is_clean() && s.restore().is_empty(), "{s:?}");
    }

    #[test]
    fn a_sequence_cut_mid_way_is_not_a_boundary_and_is_ended() {
        let s = fed(b"\x1b[38;5");
        assert!(!s.at_boundary());
        assert_eq!(s.restore(), b"\x18");
        let s = fed(b"\x1b]0;title");
        assert!(!s.at_boundary());
        assert_eq!(s.restore(), b"\x1b\\");
        let s = fed("é".as_bytes().split_at(1).0);
        assert!(!s.at_boundary());
    }

    #[test]
    fn kitty_keyboard_levels_are_popped() {
        let s = fed(b"\x1b[>1u\x1b[>3u");
        assert_eq!(s.restore(), b"\x1b[<2u");
        assert!(fed(b"\x1b[>1u\x1b[<u").is_clean());
    }

    #[test]
    fn line_start_follows_newlines_and_text() {
        assert!(fed(b"").at_line_start());
        assert!(!fed(b"Name? ").at_line_start());
        assert!(fed(b"hello\r\n").at_line_start());
        assert!(!fed(b"\x1b[5;1H").at_line_start());
        assert!(fed(b"x\x1b[31m\r").at_line_start());
    }

    #[test]
    fn a_full_reset_forgets_everything() {
        assert!(fed(b"\x1b[?1049h\x1b[?25l\x1b=\x1bc").is_clean());
    }
}
