//! Putting the live-reload script into the app's HTML, whatever encoding the app compressed it
//! with.

use std::io::Read;

/// The tag added to every HTML page. A script file rather than inline code, so that a page with
/// a `script-src 'self'` content security policy still runs it.
pub const SCRIPT_TAG: &str = r#"<script src="/__hot/client.js" async></script>"#;

/// The body decoded from `content-encoding` (none, gzip, deflate or br); `None` for another
/// encoding or a body that does not decode, which is then passed on untouched.
pub fn decode(encoding: Option<&str>, body: &[u8]) -> Option<Vec<u8>> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    let mut out = Vec::with_capacity(body.len() * 3);
    let read = match encoding.as_deref() {
        None | Some("" | "identity") => return Some(body.to_vec()),
        Some("gzip" | "x-gzip") => flate2::read::MultiGzDecoder::new(body).read_to_end(&mut out),
        // HTTP's "deflate" is zlib-wrapped, though some servers send raw deflate.
        Some("deflate") => flate2::read::ZlibDecoder::new(body)
            .read_to_end(&mut out)
            .or_else(|_| {
                out.clear();
                flate2::read::DeflateDecoder::new(body).read_to_end(&mut out)
            }),
        Some("br") => brotli_decompressor::Decompressor::new(body, 4096).read_to_end(&mut out),
        Some(_) => return None,
    };
    read.ok().map(|_| out)
}

/// `html` with the script tag before the last `</body>` (any case), or at the end when there is
/// none.
pub fn inject(html: &[u8]) -> Vec<u8> {
    let at = rfind_ignore_case(html, b"</body").unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + SCRIPT_TAG.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(SCRIPT_TAG.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

fn rfind_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .rev()
        .find(|&i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_script_goes_before_the_last_body_end() {
        let page = b"<html><body><p>a</body> x </BODY></html>";
        let out = String::from_utf8(inject(page)).expect("utf8");
        assert_eq!(
            out,
            format!("<html><body><p>a</body> x {SCRIPT_TAG}</BODY></html>")
        );
        let bare = String::from_utf8(inject(b"<p>hi")).expect("utf8");
        assert_eq!(bare, format!("<p>hi{SCRIPT_TAG}"));
    }

    #[test]
    fn gzip_and_deflate_decode() {
        let page = b"<html><body>compressed</body></html>";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(page).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(decode(Some("gzip"), &gz).as_deref(), Some(&page[..]));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(page).expect("zlib");
        let z = z.finish().expect("zlib");
        assert_eq!(decode(Some("deflate"), &z).as_deref(), Some(&page[..]));
        assert_eq!(decode(Some("zstd"), page), None);
        assert_eq!(decode(Some("gzip"), b"not gzip"), None);
    }

    #[test]
    fn brotli_decodes() {
        let page = b"<html><body>brotli</body></html>";
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(page).expect("br");
        }
        assert_eq!(decode(Some("br"), &br).as_deref(), Some(&page[..]));
    }
}
