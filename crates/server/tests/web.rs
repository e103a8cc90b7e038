//! The web interface beside the API: the page and its assets with their caching and security
//! headers, the API still answered under `/api/v1`, and the labeler's routes the interface
//! reads (batches with their commit and reveal status and the server's clock; the odds).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Harness, config, id_of, operator};
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A GET outside `/api/v1`, with optional `If-None-Match`; the status, headers and body.
async fn get(
    h: &Harness,
    path: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(path);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = h.app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn header_of(headers: &axum::http::HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn the_interface_is_served_beside_the_api() {
    let h = Harness::new(config()).await;

    let (status, headers, page) = get(&h, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");
    assert!(header_of(&headers, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
    assert_eq!(header_of(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let etag = header_of(&headers, header::ETAG).to_string();
    let (status, _, body) = get(&h, "/", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // The page names its script by version; that exact request may be cached for good.
    let page = String::from_utf8(page).unwrap();
    let script = page
        .split('"')
        .find(|part| part.starts_with("/assets/app.js?v="))
        .expect("the page loads its script by version");
    let (status, headers, body) = get(&h, script, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header_of(&headers, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert!(!body.is_empty());
    // Any other version, or none, must be revalidated.
    for other in ["/assets/app.js", "/assets/app.js?v=0000000000000000"] {
        let (status, headers, _) = get(&h, other, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache", "{other}");
    }
    let (status, headers, _) = get(&h, "/assets/app.css", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "text/css; charset=utf-8");
    let (status, headers, _) = get(&h, "/assets/icon.svg", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "image/svg+xml");

    let (status, _, body) = get(&h, "/assets/missing.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], "not_found");

    // The API is not shadowed, and unknown paths are still `no_route`.
    let (status, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let (status, _, body) = get(&h, "/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], "no_route");
}

#[tokio::test]
async fn work_shows_each_batch_through_commit_and_reveal() {
    let h = Harness::new(config()).await;
    let now = h.state.now();
    let operator_key = operator();
    let token = h.login(&operator_key).await;
    let spec = demo_spec(now);
    h.mint(&token, operator_key.address(), spec.reward_pool).await;
    let labeler = LabelerKey::derived(7, 1);
    h.mint(&token, labeler.address(), 5_000).await;
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id = id_of(&experiment["experiment_id"]);
    let body = Some(DEMO_TASKS.as_bytes().to_vec());
    let path = format!("/experiments/{id}/tasks");
    let (status, _) = h.raw("POST", &path, Some(&token), "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::OK);
    for action in ["fund", "open"] {
        let (status, answer) =
            h.call("POST", &format!("/experiments/{id}/{action}"), Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let work_path = format!("/experiments/{id}/labelers/{}/work", labeler.address());

    let (status, work) = h.call("GET", &work_path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{work}");
    assert_eq!(work["now"], now);
    assert_eq!(work["next_nonce"], 0);
    assert_eq!(work["batches"], json!([]));

    // The odds the join screen shows: without a record, careful labelers' in simulation, by
    // batches taken, growing with the items.
    let odds_path = format!("/experiments/{id}/labelers/{}/odds", labeler.address());
    let (status, odds) = h.call("GET", &odds_path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{odds}");
    let odds = odds["odds"].as_array().unwrap().clone();
    assert_eq!(odds.len() as u32, spec.limits.batches_per_labeler_max.min(10));
    let items = u64::from(spec.block_size + spec.gold_per_batch);
    for (i, o) in odds.iter().enumerate() {
        assert_eq!(
            (o["batches"].as_u64(), o["items"].as_u64()),
            (Some(i as u64 + 1), Some(items * (i as u64 + 1)))
        );
        assert_eq!(o["basis"], "careful_labelers");
    }
    let rewarded: Vec<f64> = odds.iter().map(|o| o["rewarded"].as_f64().unwrap()).collect();
    assert!(
        rewarded.windows(2).all(|w| w[0] <= w[1])
            && rewarded.iter().all(|p| (0.0..=1.0).contains(p)),
        "{rewarded:?}"
    );
    let (status, _) =
        h.call("GET", &format!("/experiments/{id}/labelers/nobody/odds"), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let domain = embedded_domain();
    let join = labeler.join(&domain, id, None, spec.stake_per_batch, 0);
    let (status, batch) = h
        .call(
            "POST",
            &format!("/experiments/{id}/join"),
            None,
            Some(serde_json::to_value(&join).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch_id"].as_u64().unwrap();
    let (_, work) = h.call("GET", &work_path, None, None).await;
    assert_eq!(work["next_nonce"], 1);
    assert_eq!(
        work["batches"],
        json!([{
            "batch_id": batch_id,
            "assigned_at": now,
            "committed_at": null,
            "commitment": null,
            "revealed_at": null,
        }])
    );

    let labels: Vec<RevealedLabel> = batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| RevealedLabel { task: t["task"].as_u64().unwrap() as u32, label: Label::Int(1) })
        .collect();
    let commit = labeler.commit(&domain, id, batch_id, &labels).unwrap();
    h.set_clock(now + 10).await;
    let (status, answer) = h
        .call(
            "POST",
            &format!("/experiments/{id}/batches/{batch_id}/commit"),
            None,
            Some(serde_json::to_value(&commit).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (_, work) = h.call("GET", &work_path, None, None).await;
    assert_eq!(work["now"], now + 10);
    assert_eq!(work["batches"][0]["committed_at"], now + 10);
    assert_eq!(work["batches"][0]["commitment"], json!(commit.commitment));
    assert_eq!(work["batches"][0]["revealed_at"], Value::Null);

    h.set_clock(spec.commit_deadline + 1).await;
    let reveal = labeler.reveal(&domain, id, batch_id, labels).unwrap();
    let (status, answer) = h
        .call(
            "POST",
            &format!("/experiments/{id}/batches/{batch_id}/reveal"),
            None,
            Some(serde_json::to_value(&reveal).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (_, work) = h.call("GET", &work_path, None, None).await;
    assert_eq!(work["batches"][0]["revealed_at"], spec.commit_deadline + 1);

    // Someone else's work is empty; an unknown experiment or a malformed address is refused.
    let stranger =
        format!("/experiments/{id}/labelers/{}/work", LabelerKey::derived(7, 2).address());
    let (status, work) = h.call("GET", &stranger, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(work["batches"], json!([]));
    let unknown = format!("/experiments/0x{}/labelers/{}/work", "ab".repeat(32), labeler.address());
    let (status, _) = h.call("GET", &unknown, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        h.call("GET", &format!("/experiments/{id}/labelers/nobody/work"), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
