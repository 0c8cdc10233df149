//! nats-py's WebSocket transport (aiohttp underneath, which offers permessage-deflate)
//! through the WebSocket port, over `ws://` and `wss://`, against Natrix and the Go server.
//! The Python comes from the virtual environment `.ci/test.sh` sets up (`NATRIX_VENV`).

use super::{Certificates, WsServer};

/// Pub/sub, request/reply with headers, and a large message, through the WebSocket URL; the
/// responder is on the client port. Prints `ok` when all went well.
const SCRIPT: &str = r#"
import asyncio, ssl, sys
import nats
import nats.errors

async def main(ws_url, tcp_url, ca_file):
    options = {}
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        options["tls"] = context
    client = await nats.connect(ws_url, connect_timeout=5, allow_reconnect=False, **options)
    responder = await nats.connect(tcp_url, connect_timeout=5, allow_reconnect=False)

    received = asyncio.get_running_loop().create_future()
    async def on_message(message):
        if not received.done():
            received.set_result(message.data)
    await client.subscribe("py.sub", cb=on_message)
    await client.flush()
    await responder.publish("py.sub", b"hello python")
    await responder.flush()
    # Generous: the test runs beside many others on a small machine.
    assert await asyncio.wait_for(received, 15) == b"hello python"

    async def serve(message):
        value = (message.headers or {}).get("X-Request", "")
        await responder.publish(message.reply, message.data.upper(), headers={"X-Reply": "re:" + value})
    await responder.subscribe("py.service", cb=serve)
    await responder.flush()
    # Now and then nats-py's first request gets a no-responders status although the service
    # subscribed and flushed first; the Go server shows it too. A second try settles it.
    for attempt in range(3):
        try:
            response = await client.request("py.service", b"ping", timeout=15, headers={"X-Request": "7"})
            break
        except nats.errors.NoRespondersError:
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)
    assert response.data == b"PING", response.data
    assert response.headers.get("X-Reply") == "re:7", response.headers

    large = bytes(i % 251 for i in range(300000))
    echoed = asyncio.get_running_loop().create_future()
    async def on_large(message):
        if not echoed.done():
            echoed.set_result(message.data)
    await client.subscribe("py.large", cb=on_large)
    await client.flush()
    await client.publish("py.large", large)
    await client.flush()
    assert await asyncio.wait_for(echoed, 15) == large
    await client.drain()
    await responder.drain()
    print("ok")

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
"#;

fn python() -> String {
    match std::env::var("NATRIX_VENV") {
        Ok(venv) => format!("{venv}/bin/python"),
        Err(_) => "python3".to_string(),
    }
}

fn run_script(args: &[String]) -> (bool, String) {
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("python runs (set NATRIX_VENV to a venv with nats-py and aiohttp)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success() && text.trim_end().ends_with("ok"),
        text,
    )
}

#[test]
fn nats_py_over_ws_with_and_without_compression() {
    for block in ["no_tls: true", "no_tls: true\n  compression: true"] {
        for server in WsServer::both(block, "") {
            let (ok, output) = run_script(&[server.ws_url(), server.server.url()]);
            assert!(ok, "{} ({block}): {output}", server.name);
        }
    }
}

#[test]
fn nats_py_over_wss() {
    let certs = Certificates::generate("py");
    let block = format!("{}\n  compression: true", certs.tls_block());
    for server in WsServer::both(&block, "") {
        let url = format!("wss://localhost:{}", server.ws_port);
        let (ok, output) = run_script(&[url, server.server.url(), certs.path("ca.pem")]);
        assert!(ok, "{}: {output}", server.name);
    }
}
