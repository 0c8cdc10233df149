//! End to end: `natrix-bench --quick` starts real servers, runs every scenario against both and
//! writes a complete report. Nothing here asserts on timings; it asserts that every scenario
//! produced a number or an explicit "not supported", and that all report files are there.
//!
//! The Go server comes from PATH (or is installed by the harness with pip). Natrix comes from
//! `NATRIX_BIN`, or else the workspace's `target/{release,debug}/natrix`. When neither exists,
//! the Natrix test fails, unless `NATRIX_BENCH_SKIP_NATRIX=1` says to skip it, and then it says
//! so loudly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// Both tests pin servers to the same CPUs; running them one at a time keeps each run sane.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The scenario ids of a quick run with default options.
const QUICK_SCENARIOS: [&str; 25] = [
    "pub-only/16B",
    "pub-only/64KiB",
    "pub-sub-1to1/16B",
    "pub-sub-1to1/64KiB",
    "ws-pub-sub-1to1/16B",
    "fan-out-1to4/16B",
    "many-4to4/16B",
    "queue-4/16B",
    "memory-per-connection/50",
    "memory-per-subscription/2000",
    "request-capacity/128B",
    "request-latency/1000/s",
    "request-latency/30%-of-capacity",
    "js-publish-sync/128B",
    "js-publish-async/128B",
    "js-consume/pull-b100-none/128B",
    "js-consume/pull-b1000-none/128B",
    "js-consume/pull-b100-explicit/128B",
    "js-consume/pull-b1000-explicit/128B",
    "js-consume/push/128B",
    "js-consume/ordered/128B",
    "kv-put/128B",
    "kv-get/16-clients/128B",
    "obj-put/1MiB",
    "obj-get/1MiB",
];

#[test]
fn quick_mode_compares_the_go_server_with_itself_end_to_end() {
    let _guard = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out_dir = scratch_dir("go-vs-go");
    let report = run_quick(&["--server-a", "go", "--server-b", "go"], &out_dir);
    check_report(&report, &out_dir);
    for scenario in scenarios(&report) {
        for side in ["a", "b"] {
            assert_eq!(
                scenario[side]["status"], "ok",
                "the Go server supports every scenario: {} {side}: {}",
                scenario["id"], scenario[side]
            );
        }
    }
    assert_eq!(report["servers"]["a"]["target"]["flavor"], "go");
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn quick_mode_compares_natrix_with_the_go_server_end_to_end() {
    let Some(natrix) = natrix_binary() else {
        if std::env::var("NATRIX_BENCH_SKIP_NATRIX").as_deref() == Ok("1") {
            eprintln!(
                "\n!!!!!!!!!! natrix-bench: NATRIX IS NOT EXERCISED: no NATRIX_BIN and no \
                 target/{{release,debug}}/natrix; skipped because NATRIX_BENCH_SKIP_NATRIX=1 \
                 !!!!!!!!!!\n"
            );
            return;
        }
        panic!(
            "no Natrix binary: set NATRIX_BIN or build the workspace (cargo build -p natrix); \
             NATRIX_BENCH_SKIP_NATRIX=1 skips this test explicitly"
        );
    };
    let _guard = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out_dir = scratch_dir("natrix-vs-go");
    let natrix_arg = format!("natrix:{}", natrix.display());
    let report = run_quick(&["--server-a", &natrix_arg, "--server-b", "go"], &out_dir);
    check_report(&report, &out_dir);
    assert_eq!(report["servers"]["a"]["target"]["flavor"], "natrix");
    for scenario in scenarios(&report) {
        assert_eq!(
            scenario["b"]["status"], "ok",
            "Go server: {}",
            scenario["id"]
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

fn natrix_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATRIX_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "NATRIX_BIN={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    ["release", "debug"]
        .iter()
        .map(|profile| workspace.join("target").join(profile).join("natrix"))
        .find(|path| path.is_file())
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-bench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_quick(server_args: &[&str], out_dir: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_natrix-bench"))
        .arg("--quick")
        .args(server_args)
        .arg("--out")
        .arg(out_dir)
        .output()
        .expect("natrix-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "natrix-bench --quick failed: {stderr}"
    );
    let json = std::fs::read_to_string(out_dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&json).expect("report.json is JSON")
}

fn scenarios(report: &Value) -> &Vec<Value> {
    report["scenarios"]
        .as_array()
        .expect("scenarios is an array")
}

/// Checks what every quick report must hold, whatever the servers.
fn check_report(report: &Value, out_dir: &Path) {
    for key in [
        "tool",
        "generated_at",
        "host",
        "pinning",
        "limits",
        "servers",
        "harness_commit",
    ] {
        assert!(report.get(key).is_some(), "report.json lacks {key}");
    }
    assert_eq!(report["mode"], "quick");
    assert!(report["host"]["cpu_model"].is_string());
    assert!(
        report["servers"]["a"]["version"].is_string(),
        "INFO version of A recorded"
    );
    assert!(
        report["servers"]["b"]["version"].is_string(),
        "INFO version of B recorded"
    );

    let ids: Vec<&str> = scenarios(report)
        .iter()
        .map(|scenario| scenario["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        ids, QUICK_SCENARIOS,
        "every scenario of the quick plan, in order"
    );

    for scenario in scenarios(report) {
        for side in ["a", "b"] {
            let result = &scenario[side];
            match result["status"].as_str() {
                Some("ok") => {
                    let median = result["median"].as_f64().expect("a measured median");
                    assert!(median > 0.0, "{} {side}: median {median}", scenario["id"]);
                    assert!(!result["rounds"].as_array().expect("rounds").is_empty());
                    // Memory scenarios handle no messages; every other one does.
                    let handles_messages = scenario["group"] != "memory";
                    assert_eq!(
                        result["server_cpu_s_per_million_msgs"].is_number(),
                        handles_messages,
                        "{} {side}: CPU per message exactly where messages flow",
                        scenario["id"]
                    );
                    assert!(result["server_peak_rss_bytes"].as_u64().unwrap_or(0) > 0);
                }
                Some("not supported") => {
                    assert!(
                        result["reason"].is_string(),
                        "{} {side}: says why",
                        scenario["id"]
                    );
                }
                other => panic!("{} {side}: status {other:?}: {result}", scenario["id"]),
            }
        }
        let both_ok = scenario["a"]["status"] == "ok" && scenario["b"]["status"] == "ok";
        assert_eq!(
            scenario["ratio_a_over_b"].is_number(),
            both_ok,
            "{}",
            scenario["id"]
        );
    }

    let markdown = std::fs::read_to_string(out_dir.join("report.md")).expect("report.md written");
    for scenario in scenarios(report) {
        let title = scenario["title"].as_str().expect("title");
        assert!(markdown.contains(title), "report.md shows {title}");
    }
    for plot in ["throughput.svg", "latency.svg"] {
        let svg = std::fs::read_to_string(out_dir.join(plot)).expect("plot written");
        assert!(
            svg.contains("<svg") && svg.contains("</svg>"),
            "{plot} is an SVG"
        );
    }
}
