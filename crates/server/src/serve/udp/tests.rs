//! The UDP workers: sockets sharing a port, batches, and what each datagram of a batch gets.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};

use crate::serve::handler::Handler;
use crate::serve::query::Catalog;
use crate::serve::query::tests::example_zone;
use crate::serve::screen::{Screened, screen};
use crate::serve::snapshot::Snapshot;
use crate::serve::tcp::ConnectionLimits;
use crate::serve::udp::STOP_CHECK;
use crate::serve::wire::FastPath;
use crate::serve::{Bound, bind_all, serve_sockets_with};

/// The real handler, noting which thread answered each request.
#[derive(Clone)]
struct Recording {
    inner: Handler,
    threads: Arc<Mutex<HashSet<ThreadId>>>,
}

#[async_trait::async_trait]
impl RequestHandler for Recording {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.threads
            .lock()
            .expect("not poisoned")
            .insert(std::thread::current().id());
        self.inner
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

impl FastPath for Recording {
    fn answer_fast(
        &self,
        request: &[u8],
        src: std::net::SocketAddr,
        protocol: hickory_server::net::xfer::Protocol,
        out: &mut Vec<u8>,
    ) -> Option<ResponseInfo> {
        self.threads
            .lock()
            .expect("not poisoned")
            .insert(std::thread::current().id());
        self.inner.answer_fast(request, src, protocol, out)
    }
}

fn recording() -> (Recording, Arc<Mutex<HashSet<ThreadId>>>) {
    let catalog = Catalog::new([Arc::new(example_zone())]);
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::serving(catalog, 1232)));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handler = Recording {
        inner: Handler::new(snapshot),
        threads: threads.clone(),
    };
    (handler, threads)
}

fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.message_type = MessageType::Query;
    message.metadata.op_code = OpCode::Query;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    message.to_vec().expect("encodes")
}

/// A client socket on loopback, connected to `server`.
fn client(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("client bind");
    socket.connect(server).expect("connect");
    socket
}

/// Every response `socket` receives until none comes for `quiet`: (ID, RCODE, answers).
fn responses(socket: &UdpSocket, quiet: Duration) -> Vec<(u16, ResponseCode, usize)> {
    socket.set_read_timeout(Some(quiet)).expect("timeout");
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(len) = socket.recv(&mut buffer) {
        let message = Message::from_vec(&buffer[..len]).expect("a response parses");
        assert_eq!(message.metadata.message_type, MessageType::Response);
        out.push((
            message.metadata.id,
            message.metadata.response_code,
            message.answers.len(),
        ));
    }
    out
}

/// Serves `sockets` with a [`Recording`] handler until the returned sender is dropped.
fn serve(
    sockets: Vec<Bound>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Arc<Mutex<HashSet<ThreadId>>>,
) {
    let (handler, threads) = recording();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve_sockets_with(
        sockets,
        handler,
        ConnectionLimits::unlimited(),
        async {
            let _ = stopped.await;
        },
    ));
    (stop, serving, threads)
}

async fn stop_and_wait(
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
) {
    drop(stop);
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the UDP workers stop with the shutdown")
        .expect("serving ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_udp_workers_share_one_port_and_both_answer() {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let workers = NonZeroUsize::new(2).expect("nonzero");
    let sockets = bind_all(&[loopback], workers).await.expect("bound");
    let [Bound { udp, tcp }] = sockets.as_slice() else {
        panic!("one address bound");
    };
    assert_eq!(udp.len(), 2, "one socket per worker");
    let port = udp[0].local_addr().expect("addr").port();
    assert_eq!(udp[1].local_addr().expect("addr").port(), port);
    assert_eq!(tcp.local_addr().expect("addr").port(), port);
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));

    let (stop, serving, threads) = serve(sockets);
    // Many clients, each on a port of its own: the kernel hashes each flow to one socket, so
    // both workers get some (64 flows all on one of two sockets: odds of 2^-63).
    tokio::task::spawn_blocking(move || {
        for id in 0..64u16 {
            let socket = client(server);
            socket
                .send(&query(id, "example.", RecordType::SOA))
                .expect("send");
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut buffer = [0u8; 4096];
            let len = socket.recv(&mut buffer).expect("an answer");
            let message = Message::from_vec(&buffer[..len]).expect("parses");
            assert_eq!(message.metadata.id, id);
            assert_eq!(message.metadata.response_code, ResponseCode::NoError);
            assert_eq!(message.answers.len(), 1, "query {id}");
        }
    })
    .await
    .expect("every client got its one answer");
    let threads = threads.lock().expect("not poisoned").len();
    assert_eq!(threads, 2, "both workers answered");
    stop_and_wait(stop, serving).await;
}

/// A datagram the screen passes but hickory cannot decode: an A record of 3 bytes.
fn undecodable(id: u16) -> Vec<u8> {
    let mut message = query(id, "example.", RecordType::SOA);
    message[11] = 1; // ARCOUNT
    message.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 192, 0, 2]);
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc1035_s4_1_1_one_batch_of_mixed_datagrams_gets_exactly_its_answers() {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let sockets = bind_all(&[loopback], NonZeroUsize::MIN)
        .await
        .expect("bound");
    let server = sockets[0].udp_addr().expect("addr");

    let mut response = query(3, "example.", RecordType::SOA);
    response[2] |= 0x80; // QR: a response, never answered
    let mut bad_counts = query(4, "example.", RecordType::SOA);
    bad_counts[5] = 200; // QDCOUNT 200 in a short message: FORMERR from the screen
    let garbled = undecodable(5);
    assert_eq!(screen(&mut garbled.clone(), server), Screened::Pass);
    assert!(Request::from_bytes(garbled.clone(), server, Protocol::Udp).is_err());
    let datagrams = [
        query(1, "example.", RecordType::SOA),
        vec![0xde, 0xad, 0xbe], // shorter than a header: dropped
        response,
        bad_counts,
        garbled, // FORMERR from hickory's parser
        query(6, "nx.example.", RecordType::A),
        query(7, "example.", RecordType::SOA),
    ];
    // All queued before the worker starts, so that its first recvmmsg reads them as one batch.
    let socket = client(server);
    for datagram in &datagrams {
        socket.send(datagram).expect("send");
    }
    let (stop, serving, _) = serve(sockets);
    let got = tokio::task::spawn_blocking(move || responses(&socket, Duration::from_millis(1500)))
        .await
        .expect("the client ran");
    // In the order of the requests: one response each for 1, 4, 5, 6 and 7, none for 2 and 3.
    assert_eq!(
        got,
        [
            (1, ResponseCode::NoError, 1),
            (4, ResponseCode::FormErr, 0),
            (5, ResponseCode::FormErr, 0),
            (6, ResponseCode::NXDomain, 0),
            (7, ResponseCode::NoError, 1),
        ]
    );
    stop_and_wait(stop, serving).await;
}

/// A worker blocked in its receive ends when the server stops, woken by the shutdown of its
/// socket's receive side, not when its receive timeout ([`STOP_CHECK`], a fallback) expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_udp_worker_stops_with_the_server_before_its_receive_timeout() {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let sockets = bind_all(&[loopback], NonZeroUsize::MIN)
        .await
        .expect("bound");
    let server = sockets[0].udp_addr().expect("addr");
    let (stop, serving, _) = serve(sockets);
    // Answered once, so the worker is running and then blocks, idle, in its receive.
    let socket = client(server);
    socket
        .send(&query(1, "example.", RecordType::SOA))
        .expect("send");
    let got = tokio::task::spawn_blocking(move || responses(&socket, Duration::from_millis(300)))
        .await
        .expect("the client ran");
    assert_eq!(got, [(1, ResponseCode::NoError, 1)]);
    let started = tokio::time::Instant::now();
    drop(stop);
    tokio::time::timeout(STOP_CHECK / 2, serving)
        .await
        .expect("the worker stops before its receive timeout")
        .expect("serving ended");
    assert!(started.elapsed() < STOP_CHECK / 2);
}
