//! Golden captures of real sessions between libvirt's own clients and a
//! real `libvirtd` (recorded by `cargo xtask capture`, see
//! `tests/captures/*.cap`): every frame decodes to a typed value, and
//! re-encoding that value gives back the exact bytes.

use libvirt_proto::dispatch::{decode, Body, Call, Message, Reply};
use libvirt_proto::frame::{Frame, FrameDecoder};
use libvirt_proto::{admin, remote};

/// `(direction, frame)` of every line of a capture.
fn capture(name: &str) -> Vec<(char, Frame)> {
    let path = format!("{}/tests/captures/{name}.cap", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (dir, hex) = l.split_at(1);
            let bytes: Vec<u8> = (0..hex.trim().len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
                .collect();
            let mut d = FrameDecoder::new();
            d.push(&bytes);
            let frame = d.next_frame().unwrap().expect("one whole frame per line");
            assert_eq!(d.buffered(), 0, "one frame per line");
            assert_eq!(frame.encode(), bytes, "frame re-encodes byte-identically");
            (dir.chars().next().unwrap(), frame)
        })
        .collect()
}

/// Decodes every frame, checking the body re-encodes to the same bytes.
fn bodies(name: &str) -> Vec<(char, Body)> {
    capture(name)
        .into_iter()
        .map(|(dir, frame)| {
            let body =
                decode(&frame).unwrap_or_else(|e| panic!("{name}: {e} in {:?}", frame.header));
            assert_eq!(body.encode_body().unwrap(), frame.body, "{name}: {body:?}");
            (dir, body)
        })
        .collect()
}

const ALL: &[&str] = &[
    "list_all",
    "dominfo",
    "dumpxml",
    "screenshot",
    "events",
    "unknown_domain",
    "admin_srv_list",
];

#[test]
fn every_captured_frame_decodes_and_reencodes_byte_identically() {
    for name in ALL {
        let b = bodies(name);
        assert!(b.len() > 4, "{name}");
        // Every session opens the connection first.
        assert!(
            matches!(
                b.iter().find(|(d, _)| *d == '>'),
                Some((
                    _,
                    Body::Call(
                        Call::Remote(remote::program::Call::ConnectSupportsFeature(_))
                            | Call::Remote(remote::program::Call::AuthList(_))
                            | Call::Admin(_)
                    )
                ))
            ),
            "{name}: {:?}",
            b.first()
        );
    }
}

#[test]
fn list_all_returns_the_test_domain() {
    let found = bodies("list_all").into_iter().any(|(_, b)| match b {
        Body::Reply(Reply::Remote(remote::program::Reply::ConnectListAllDomains(r))) => {
            r.domains.iter().any(|d| d.name == "test")
        }
        _ => false,
    });
    assert!(found);
}

#[test]
fn dominfo_reports_the_running_test_domain() {
    let info = bodies("dominfo")
        .into_iter()
        .find_map(|(_, b)| match b {
            Body::Reply(Reply::Remote(remote::program::Reply::DomainGetInfo(r))) => Some(r),
            _ => None,
        })
        .expect("a DomainGetInfo reply");
    assert_eq!(info.state, 1, "running");
    assert_eq!(info.nr_virt_cpu, 2);
    assert_eq!(info.max_mem, 8_388_608);
}

#[test]
fn dumpxml_carries_the_domain_xml() {
    let xml = bodies("dumpxml")
        .into_iter()
        .find_map(|(_, b)| match b {
            Body::Reply(Reply::Remote(remote::program::Reply::DomainGetXmlDesc(r))) => Some(r.xml),
            _ => None,
        })
        .unwrap();
    assert!(xml.contains("<name>test</name>"), "{xml}");
}

#[test]
fn screenshot_is_a_read_stream_with_data_and_an_end() {
    let b = bodies("screenshot");
    assert!(b.iter().any(|(_, b)| matches!(
        b,
        Body::Call(Call::Remote(remote::program::Call::DomainScreenshot(_)))
    )));
    let data: usize = b
        .iter()
        .map(|(_, b)| match b {
            Body::StreamData(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert!(data > 1000, "{data} bytes of image");
    // Both sides finish the stream.
    let ends: Vec<char> = b
        .iter()
        .filter(|(_, b)| matches!(b, Body::StreamEnd))
        .map(|(d, _)| *d)
        .collect();
    assert!(ends.contains(&'<') && ends.contains(&'>'), "{ends:?}");
}

#[test]
fn events_arrive_as_typed_messages() {
    let events: Vec<(i32, i32)> = bodies("events")
        .into_iter()
        .filter_map(|(d, b)| match b {
            Body::Message(Message::Remote(
                remote::program::Message::DomainEventCallbackLifecycle(m),
            )) => {
                assert_eq!(d, '<');
                Some((m.callback_id, m.msg.event))
            }
            _ => None,
        })
        .collect();
    // VIR_DOMAIN_EVENT_SUSPENDED = 3, VIR_DOMAIN_EVENT_RESUMED = 4.
    let kinds: Vec<i32> = events.iter().map(|e| e.1).collect();
    assert!(kinds.contains(&3) && kinds.contains(&4), "{events:?}");
}

#[test]
fn an_unknown_domain_is_error_42() {
    let b = bodies("unknown_domain");
    assert!(b.iter().any(|(_, b)| matches!(
        b,
        Body::Call(Call::Remote(remote::program::Call::DomainLookupByName(a))) if a.name == "no-such-domain"
    )));
    let errors: Vec<_> = b
        .into_iter()
        .filter_map(|(_, b)| match b {
            Body::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(!errors.is_empty());
    for err in &errors {
        assert_eq!(err.code.0, 42);
        assert_eq!(err.code.name(), Some("VIR_ERR_NO_DOMAIN"));
        assert_eq!(err.domain.name(), Some("VIR_FROM_TEST"));
        assert_eq!(err.to_string(), "Domain not found");
    }
}

#[test]
fn admin_lists_the_daemon_servers() {
    let mut names: Vec<String> = bodies("admin_srv_list")
        .into_iter()
        .find_map(|(_, b)| match b {
            Body::Reply(Reply::Admin(admin::program::Reply::ConnectListServers(r))) => {
                Some(r.servers.into_iter().map(|s| s.name.0).collect())
            }
            _ => None,
        })
        .unwrap();
    names.sort();
    assert_eq!(names, ["admin", "libvirtd"]);
}
