//! The C API's enums and flag sets (`libvirt_proto::api`): named values,
//! libvirt's spelling, and values a newer libvirt may send kept intact.

use libvirt_proto::api::{
    ConnectListAllDomainsFlags, DomainModificationImpact, DomainState, DomainXMLFlags,
    EventHandleType, DOMAIN_CPU_STATS_CPUTIME, DOMAIN_MEMORY_PARAM_UNLIMITED,
};
use libvirt_proto::error_codes::ErrorNumber;

#[test]
fn value_enums_name_their_values_as_libvirt_spells_them() {
    assert_eq!(DomainState::RUNNING, DomainState(1));
    assert_eq!(DomainState::SHUTOFF.name(), Some("VIR_DOMAIN_SHUTOFF"));
    assert_eq!(DomainState::PAUSED.to_string(), "VIR_DOMAIN_PAUSED");
    assert_eq!(ErrorNumber::ERR_NO_DOMAIN.to_string(), "VIR_ERR_NO_DOMAIN");
    assert!(matches!(DomainState::from(5), DomainState::SHUTOFF));
}

#[test]
fn virsh_words_come_from_libvirts_tools() {
    assert_eq!(DomainState::SHUTOFF.virsh_name(), Some("shut off"));
    assert_eq!(DomainState::NOSTATE.virsh_name(), Some("no state"));
    assert_eq!(DomainState::from(1000).virsh_name(), None);
}

#[test]
fn a_value_unknown_to_the_headers_is_kept() {
    let newer = DomainState::from(1000);
    assert_eq!(newer.name(), None);
    assert_eq!(newer.to_string(), "1000");
    assert_eq!(i32::from(newer), 1000);

    let bits = DomainXMLFlags::SECURE.bits() | 1 << 30;
    let flags = DomainXMLFlags::from(bits);
    assert!(flags.contains(DomainXMLFlags::SECURE));
    assert_eq!(u32::from(flags), bits, "the unknown bit survives");
    assert_eq!(flags.to_string(), "VIR_DOMAIN_XML_SECURE | 0x40000000");
}

#[test]
fn flag_sets_combine() {
    let f = ConnectListAllDomainsFlags::ACTIVE | ConnectListAllDomainsFlags::PERSISTENT;
    assert_eq!(f.bits(), 1 | 4);
    assert!(f.contains(ConnectListAllDomainsFlags::ACTIVE));
    assert!(!f.contains(ConnectListAllDomainsFlags::INACTIVE));
    assert_eq!(
        f.to_string(),
        "VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT"
    );
    assert_eq!(ConnectListAllDomainsFlags::empty().to_string(), "0");
    // Documented as a bitwise-OR although not named ...Flags.
    let impact = DomainModificationImpact::LIVE | DomainModificationImpact::CONFIG;
    assert_eq!(impact.bits(), 3);
    // Listed as a flag set in specs/libvirt.toml.
    assert_eq!(
        (EventHandleType::READABLE | EventHandleType::WRITABLE).bits(),
        3
    );
}

#[test]
fn documented_constants() {
    assert_eq!(DOMAIN_CPU_STATS_CPUTIME, "cpu_time");
    assert_eq!(DOMAIN_MEMORY_PARAM_UNLIMITED, i64::MAX >> 10);
}

#[test]
fn a_detail_is_typed_by_its_event_and_a_reason_by_its_state() {
    use libvirt_proto::api::{
        DomainEventDetail, DomainEventStartedDetailType, DomainEventType, DomainRunningReason,
        DomainStateReason,
    };
    let started = DomainEventDetail::new(DomainEventType::STARTED, 0);
    assert_eq!(
        started,
        DomainEventDetail::Started(DomainEventStartedDetailType::BOOTED)
    );
    assert_eq!(started.of(), DomainEventType::STARTED);
    assert_eq!(started.name(), Some("VIR_DOMAIN_EVENT_STARTED_BOOTED"));
    assert_eq!(started.virsh_name(), Some("Booted"));

    let reason = DomainStateReason::new(DomainState::RUNNING, 1);
    assert_eq!(
        reason,
        DomainStateReason::Running(DomainRunningReason::BOOTED)
    );
    assert_eq!(reason.virsh_name(), Some("booted"));
    assert_eq!(reason.to_string(), "VIR_DOMAIN_RUNNING_BOOTED");

    // Neither number is lost when the deciding value is unknown.
    let newer = DomainEventDetail::new(DomainEventType::from(99), 7);
    assert_eq!(newer, DomainEventDetail::Other(DomainEventType(99), 7));
    assert_eq!((newer.value(), newer.name()), (7, None));
    assert_eq!(newer.to_string(), "7");
}
