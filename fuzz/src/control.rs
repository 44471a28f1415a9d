//! The control protocol: bytes in as one line on the control socket, read by the daemon as a
//! request and by the CLI as a response.

use daned::control::{
    Request, Response, reload_failed, render_keys, render_reload, render_status_at,
};
use daned::zone::persist::state::parse_role;
use hickory_proto::rr::Name;

/// "Now" for the renderers: 2026-12-01.
const NOW: u32 = 1_796_083_200;

/// Reads `data` as a request and as a response; what parses encodes and reads back as itself,
/// and a response renders for a human.
pub fn control(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        let line = serde_json::to_vec(&request).expect("a request encodes");
        let again: Request = serde_json::from_slice(&line).expect("an encoded request reads");
        assert_eq!(again, request, "a request changed in a round trip");
        // What the daemon does with a request's fields before it asks the manager.
        match &request {
            Request::Keys { zone } | Request::DsSeen { zone, .. } => {
                let _ = Name::from_str_relaxed(zone);
            }
            Request::KeyRollover { zone, role } => {
                let _ = Name::from_str_relaxed(zone);
                let _ = parse_role(role);
            }
            _ => {}
        }
    }
    if let Ok(response) = serde_json::from_slice::<Response>(data) {
        let line = serde_json::to_vec(&response).expect("a response encodes");
        let again: Response = serde_json::from_slice(&line).expect("an encoded response reads");
        assert_eq!(again, response, "a response changed in a round trip");
        let mut out = Vec::new();
        let _ = match &response {
            Response::Status(report) => render_status_at(report, NOW, &mut out),
            Response::Keys(report) => render_keys(report, NOW, &mut out),
            Response::Reloaded(answer) => {
                let _ = reload_failed(&answer.zones);
                render_reload(answer, &mut out)
            }
            _ => Ok(()),
        };
    }
}
