//! `typed_params`.

use libvirt_proto::typed_params::{TypedParamError, TypedParams, FIELD_LENGTH};
use libvirt_proto::{admin, remote, xdr};

/// Decodes a typed parameter list from the wire (a remote
/// `DomainGetSchedulerParametersRet`, or with a first byte of 1 an admin
/// `ServerGetThreadpoolParametersRet`) and works it with
/// [`TypedParams`].
///
/// Checks: the list converts between the remote and admin types and back
/// to the same wire bytes; each getter returns the first value of a
/// name, and an error exactly when that value has another type;
/// `get_strings` returns every string of a name or the type error;
/// `set` leaves one value of the name, `remove` none, `add` refuses a
/// present name; names of `FIELD_LENGTH` bytes or more are refused.
pub fn typed_params(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let params: TypedParams = if which == 1 {
        let Ok(r) = xdr::from_bytes::<admin::ServerGetThreadpoolParametersRet>(body) else {
            return;
        };
        let p = TypedParams::from(r.params);
        let back: Vec<admin::TypedParam> = (&p).into();
        let again = xdr::to_bytes(&admin::ServerGetThreadpoolParametersRet { params: back })
            .expect("a decoded list encodes");
        assert_eq!(again, body, "admin round trip");
        p
    } else {
        let Ok(r) = xdr::from_bytes::<remote::DomainGetSchedulerParametersRet>(body) else {
            return;
        };
        let p = TypedParams::from(r.params);
        let admin: Vec<admin::TypedParam> = (&p).into();
        let via_admin = TypedParams::from(admin);
        let again = xdr::to_bytes(&remote::DomainGetSchedulerParametersRet {
            params: via_admin.into(),
        })
        .expect("a decoded list encodes");
        assert_eq!(again, body, "round trip through the admin types");
        p
    };

    let names: Vec<String> = params.0.iter().map(|p| p.field.to_string()).collect();
    for name in names.iter().map(String::as_str).chain(["", "missing"]) {
        let first = params.0.iter().find(|p| p.field == name).map(|p| &p.value);
        // The same value, not an equal one (a NaN double is not equal to
        // itself).
        assert!(
            params.find(name).map(|v| v as *const _) == first.map(|v| v as *const _),
            "find({name:?})"
        );
        let kind = first.map(|v| format!("{v:?}"));
        let is = |prefix: &str| kind.as_deref().is_some_and(|k| k.starts_with(prefix));
        let absent = first.is_none();
        let check = |ok: bool, matches: bool, what: &str| {
            assert_eq!(ok, absent || matches, "{what} of {name:?} ({kind:?})");
        };
        check(params.get_int(name).is_ok(), is("Int("), "get_int");
        check(params.get_uint(name).is_ok(), is("Uint("), "get_uint");
        check(params.get_llong(name).is_ok(), is("Llong("), "get_llong");
        check(params.get_ullong(name).is_ok(), is("Ullong("), "get_ullong");
        check(params.get_double(name).is_ok(), is("Double("), "get_double");
        check(
            params.get_boolean(name).is_ok(),
            is("Boolean("),
            "get_boolean",
        );
        check(params.get_string(name).is_ok(), is("String("), "get_string");
        let all: Vec<_> = params.0.iter().filter(|p| p.field == name).collect();
        match params.get_strings(name) {
            Ok(v) => assert_eq!(v.len(), all.len()),
            Err(TypedParamError::TypeMismatch { .. }) => {
                assert!(all
                    .iter()
                    .any(|p| !format!("{:?}", p.value).starts_with("String(")))
            }
            Err(e) => panic!("get_strings: {e}"),
        }

        let mut p = params.clone();
        let long = name.len() >= FIELD_LENGTH;
        match p.add_uint(name, 7) {
            Ok(()) => assert!(absent && !long),
            Err(TypedParamError::Duplicate(_)) => assert!(!absent && !long),
            Err(TypedParamError::NameTooLong(_)) => assert!(long),
            Err(e) => panic!("add: {e}"),
        }
        let mut p = params.clone();
        match p.set_string(name, "x".into()) {
            Ok(()) => {
                assert!(!long);
                assert_eq!(p.get_strings(name), Ok(vec!["x"]));
                assert_eq!(p.len(), params.len() - all.len() + 1);
            }
            Err(e) => assert!(long, "set: {e}"),
        }
        let mut p = params.clone();
        assert_eq!(p.remove(name), !absent);
        assert_eq!(p.find(name), None);
        assert_eq!(p.len(), params.len() - all.len());
    }
}
