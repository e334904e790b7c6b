//! Domain lifecycle events that outlive the daemon: the connection is
//! opened again whenever it is lost (a restart of libvirtd, keepalive
//! giving up) and the subscription made again, with a line for each.
//!
//! ```sh
//! cargo run -p libvirt-proto --features client --example watch_events -- URI [SECONDS]
//! ```
//!
//! URI is any libvirt URI (`qemu:///system`, or `""` for the default);
//! SECONDS (default: forever) bounds the wait.

use std::process::ExitCode;
use std::time::Duration;

use libvirt_proto::api::DomainEventID;
use libvirt_proto::client::{
    Backoff, ClientError, ConnectOptions, DomainEvent, Reconnecting, Resumed,
};
use libvirt_proto::error::Report;

async fn watch(uri: &str) -> Result<(), ClientError> {
    let conn = Reconnecting::connect(uri, ConnectOptions::default(), Backoff::default()).await?;
    let mut events = conn
        .resubscribing(|client| async move {
            client.domain_events(DomainEventID::LIFECYCLE, None).await
        })
        .await?;
    println!("Watching {}", conn.connected().await?.uri());
    while let Some(item) = events.next().await {
        match item? {
            Resumed::Event(DomainEvent::Lifecycle {
                domain,
                event,
                detail,
            }) => println!(
                "event 'lifecycle' for domain '{}': {} {}",
                domain.name,
                event.virsh_name().unwrap_or("unknown"),
                detail.virsh_name().unwrap_or("unknown")
            ),
            Resumed::Event(_) => {}
            Resumed::Disconnected(why) => {
                println!("connection lost ({}), reconnecting", Report::new(&why))
            }
            // What happened meanwhile is not known: a program that keeps
            // state would list the domains again here.
            Resumed::Reconnected => println!("connected again; events meanwhile were missed"),
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (uri, seconds) = match args.as_slice() {
        [uri] => (uri.as_str(), None),
        [uri, s] => match s.parse() {
            Ok(s) => (uri.as_str(), Some(Duration::from_secs(s))),
            Err(_) => {
                eprintln!("not a number of seconds: {s}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: watch_events URI [SECONDS]");
            return ExitCode::from(2);
        }
    };
    let result = match seconds {
        Some(s) => tokio::time::timeout(s, watch(uri)).await.unwrap_or(Ok(())),
        None => watch(uri).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", Report::new(&e));
            ExitCode::FAILURE
        }
    }
}
