//! The benchmark harness (being built under the bench-harness issue).
fn main() {
    eprintln!("natrix-bench: not built yet");
    std::process::exit(2);
}
