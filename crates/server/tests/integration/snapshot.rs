//! One snapshot (issue 12): what a transfer sees — the zone, its journal, the transfer ACLs and
//! the TSIG keys — is one immutable value behind one swap. A reload that changes both the zone
//! and who may transfer it is seen by a transfer racing it either entirely before or entirely
//! after: never the new zone to the old ACL's client, nor the old zone to the new one's.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daned::clock::SystemClock;
use daned::serve::handler::Handler;
use daned::serve::tcp::ConnectionLimits;
use daned::serve::{bind_all, serve_sockets_with};
use daned_sign::hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Workspace, start_manager};

/// The two clients: the first may transfer the zone in version "A", the second in "B".
const CLIENTS: [(Ipv4Addr, &str); 2] = [
    (Ipv4Addr::new(127, 0, 0, 1), "A"),
    (Ipv4Addr::new(127, 0, 0, 2), "B"),
];

/// One transfer: the client, and the version it got (`None`: refused).
type Outcome = (Ipv4Addr, Option<String>);

/// How many reloads the transfers race.
const RELOADS: usize = 12;

/// Writes version `version` of the zone (a TXT record at `race` says which) and a config that
/// lets only that version's client transfer it.
fn write_version(ws: &Workspace, base_zone: &str, version: &str) {
    let (client, _) = CLIENTS
        .iter()
        .find(|(_, v)| *v == version)
        .expect("a known version");
    std::fs::write(
        ws.path("example.com.zone"),
        format!("{base_zone}race IN TXT \"{version}\"\n"),
    )
    .expect("zone written");
    ws.write_config(&format!(
        "allow-transfer = [{{ prefix = \"{client}/32\" }}]\n"
    ));
}

/// What one AXFR from `source` got: `Some(version)` of the zone transferred, `None` when it was
/// refused.
async fn axfr(source: Ipv4Addr, server: SocketAddr) -> Option<String> {
    let socket = tokio::net::TcpSocket::new_v4().expect("TCP socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the client's loopback address");
    let mut stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(server))
        .await
        .expect("connected in time")
        .expect("connected");
    let mut query = Message::new(0x5a5a, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(
        Name::from_ascii("example.com.").expect("name"),
        RecordType::AXFR,
    ));
    let bytes = query.to_vec().expect("query encodes");
    let mut framed = u16::try_from(bytes.len())
        .expect("short query")
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.expect("query sent");
    let mut version = None;
    let mut soas = 0;
    // An AXFR of the example zone is a few messages; the bound only stops a broken server.
    for _ in 0..64 {
        let mut len = [0u8; 2];
        let read = async {
            stream.read_exact(&mut len).await?;
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a message in time")
            .expect("a whole message");
        let message = Message::from_vec(&buf).expect("the response parses");
        if message.metadata.response_code == ResponseCode::Refused {
            return None;
        }
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        for record in &message.answers {
            match &record.data {
                RData::SOA(_) => soas += 1,
                RData::TXT(txt) if record.name.to_ascii() == "race.example.com." => {
                    let text = txt.txt_data.concat();
                    version = Some(String::from_utf8_lossy(&text).into_owned());
                }
                _ => {}
            }
        }
        // RFC 5936 §2.2: the transfer ends with the second SOA.
        if soas == 2 {
            return Some(version.expect("the transfer holds the race TXT record"));
        }
    }
    panic!("AXFR from {source} did not end in 64 messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_12_reload_of_zone_and_transfer_acl_is_seen_atomically_by_a_racing_transfer() {
    let ws = Workspace::example();
    let base_zone = std::fs::read_to_string(ws.path("example.com.zone")).expect("zone read");
    write_version(&ws, &base_zone, "A");
    let mut manager = start_manager(&ws, Arc::new(SystemClock));
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let sockets = bind_all(&[loopback], std::num::NonZeroUsize::MIN)
        .await
        .expect("bound on loopback");
    let server = sockets[0].tcp.local_addr().expect("TCP address");
    let handler = Handler::new(manager.snapshot());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve_sockets_with(
        sockets,
        handler,
        ConnectionLimits::unlimited(),
        async {
            let _ = stopped.await;
        },
    ));

    // Each client transfers in a loop until the reloads are done; every outcome is kept.
    let done = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    // How many transfers have ended, for the reloads to await.
    let (ended, mut ended_rx) = tokio::sync::watch::channel(0usize);
    let ended = Arc::new(ended);
    let mut clients = Vec::new();
    for (source, _) in CLIENTS {
        let (done, outcomes, ended) =
            (Arc::clone(&done), Arc::clone(&outcomes), Arc::clone(&ended));
        clients.push(tokio::spawn(async move {
            // Bounded: the reloads end far sooner; the count only stops a runaway loop.
            for _ in 0..100_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let got = axfr(source, server).await;
                outcomes.lock().expect("outcomes").push((source, got));
                ended.send_modify(|n| *n += 1);
            }
        }));
    }

    for reload in 0..RELOADS {
        let version = if reload % 2 == 0 { "B" } else { "A" };
        write_version(&ws, &base_zone, version);
        let before = *ended_rx.borrow_and_update();
        tokio::task::block_in_place(|| {
            manager.reload().expect("the config reloads");
        });
        // Let the clients transfer a few times under each version before the next reload.
        tokio::time::timeout(
            Duration::from_secs(30),
            ended_rx.wait_for(|n| *n >= before + 4),
        )
        .await
        .expect("transfers go on between reloads")
        .expect("the clients run");
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("the client ends");
    }
    let _ = stop.send(());
    serving.await.expect("the server stops");

    let outcomes = outcomes.lock().expect("outcomes");
    for (source, got) in outcomes.iter() {
        let (_, allowed_version) = CLIENTS
            .iter()
            .find(|(c, _)| c == source)
            .expect("a known client");
        if let Some(version) = got {
            assert_eq!(
                version, allowed_version,
                "{source} transferred version {version}, which the ACL of that snapshot does not let it see"
            );
        }
    }
    // Not vacuous: each client was both let in and refused.
    for (source, _) in CLIENTS {
        let mine = || outcomes.iter().filter(|(s, _)| *s == source);
        assert!(
            mine().any(|(_, got)| got.is_some()),
            "{source} never transferred"
        );
        assert!(
            mine().any(|(_, got)| got.is_none()),
            "{source} was never refused"
        );
    }
}
