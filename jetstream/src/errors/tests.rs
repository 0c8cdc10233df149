use super::*;
use crate::testdata;

#[test]
fn every_variant_is_its_rows_index() {
    for (index, spec) in ERRORS.iter().enumerate() {
        assert_eq!(spec.id as usize, index, "{}", spec.go_name);
        assert_eq!(spec.id.spec().go_name, spec.go_name);
    }
}

#[test]
fn err_codes_are_unique_and_sorted() {
    for pair in ERRORS.windows(2) {
        assert!(pair[0].err_code < pair[1].err_code, "{}", pair[1].go_name);
    }
}

#[test]
fn errors_table_matches_go_server() {
    let Some(text) = testdata::read("nats-data/jetstream-errors.json") else {
        return;
    };
    let go: Vec<serde_json::Value> = serde_json::from_str(&text).expect("errors json");
    assert_eq!(go.len(), ERRORS.len(), "number of errors");
    for entry in &go {
        let err_code = entry["error_code"].as_u64().expect("error_code") as u16;
        let spec = ERRORS
            .iter()
            .find(|spec| spec.err_code == err_code)
            .unwrap_or_else(|| panic!("err_code {err_code} missing from the table"));
        assert_eq!(Some(spec.go_name), entry["constant"].as_str(), "{err_code}");
        assert_eq!(
            Some(u64::from(spec.code)),
            entry["code"].as_u64(),
            "{err_code}"
        );
        assert_eq!(
            Some(spec.description),
            entry["description"].as_str(),
            "{err_code}"
        );
    }
}

#[test]
fn error_renders_as_go_json() {
    let error = ApiError::new(ErrorId::StreamNotFound);
    assert_eq!(
        error.to_json(),
        r#"{"code":404,"err_code":10059,"description":"stream not found"}"#
    );
}

#[test]
fn placeholders_are_filled_like_go_replacer() {
    assert_eq!(
        ApiError::stream_wrong_last_sequence(12).description,
        "wrong last sequence: 12"
    );
    assert_eq!(
        ApiError::stream_external_del_prefix_overlaps("a.b", "foo.>").description,
        "stream external delivery prefix a.b overlaps with stream subject foo.>"
    );
    // A value that itself looks like a placeholder is not replaced again.
    assert_eq!(
        ApiError::stream_external_api_overlap("{subject}", "$JS.API").description,
        "stream external api prefix {subject} must not overlap with $JS.API"
    );
    assert_eq!(
        ApiError::stream_invalid_config("max age needs to be >= 100ms").to_json(),
        r#"{"code":500,"err_code":10052,"description":"max age needs to be \u003e= 100ms"}"#
    );
}

#[test]
fn empty_fields_are_omitted_and_display_is_gos_error_string() {
    let bare = ApiError {
        code: 503,
        err_code: 0,
        description: String::new(),
    };
    assert_eq!(bare.to_json(), r#"{"code":503}"#);
    assert_eq!(
        ApiError::new(ErrorId::StreamNotFound).to_string(),
        "stream not found (10059)"
    );
    assert!(ApiError::stream_wrong_last_sequence(1).is(ErrorId::StreamWrongLastSequence));
}
