//! Operating-system errors in the Go server's words: Go's `syscall.Errno` texts are the C
//! library's messages with a lower-case first letter (`address already in use`, `no such file
//! or directory`), and its `*PathError`/`*OpError` put the operation first (`open x.conf: ...`,
//! `listen tcp host:port: bind: ...`). Operators' tooling matches these texts.

/// The text Go's `syscall.Errno` has for `error`, without Rust's `(os error N)`.
pub fn go_errno_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_read_as_go_prints_them() {
        let missing = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(go_errno_text(&missing), "no such file or directory");
        let busy = std::io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(go_errno_text(&busy), "address already in use");
    }
}
