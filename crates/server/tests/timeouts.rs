//! Slow clients over real TCP: headers that never finish and bodies that trickle are cut at
//! their timeouts, so they cannot hold connections until the server runs out of descriptors,
//! while a prompt request is answered.

mod common;

use common::{Harness, config};
use plumbline_server::{Config, app};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on a free port with one-second timeouts; its address.
async fn listening() -> (Harness, std::net::SocketAddr) {
    let timeouts = Config {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        ..config()
    };
    let h = Harness::new(timeouts).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(h.state.clone());
    tokio::spawn(plumbline_server::listen::serve(
        listener,
        router,
        Duration::from_secs(1),
        std::future::pending(),
    ));
    (h, addr)
}

/// Sends `bytes` and reads until the server closes the connection (at most 10 s); what it
/// answered and how long it took.
async fn send_and_wait(addr: std::net::SocketAddr, bytes: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await.expect("the server closes the connection").ok();
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn unfinished_headers_are_cut_at_the_header_timeout() {
    let (_h, addr) = listening().await;
    let (answer, took) = send_and_wait(addr, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n").await;
    assert!(took < Duration::from_secs(5), "held {took:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_at_the_request_timeout() {
    let (_h, addr) = listening().await;
    let request = b"POST /api/v1/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"addr";
    let (answer, took) = send_and_wait(addr, request).await;
    assert!(took < Duration::from_secs(5), "held {took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_prompt_request_is_answered() {
    let (_h, addr) = listening().await;
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (answer, _) = send_and_wait(addr, request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"ledger_balanced\":true"), "{answer}");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_connection_that_never_sent_a_byte() {
    let h = Harness::new(config()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(plumbline_server::listen::serve(
        listener,
        app(h.state.clone()),
        Duration::from_secs(10),
        async {
            stopped.await.ok();
        },
    ));
    // Opened ahead of need, as browsers do, and never used.
    let _unused = TcpStream::connect(addr).await.unwrap();
    // One that began a request before the shutdown is still answered.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    busy.write_all(b"Connection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    busy.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops without waiting out the header timeout")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}
