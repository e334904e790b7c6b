//! A small virsh-like program on the async client.
//!
//! ```sh
//! cargo run -p libvirt-proto --features client --example virsh_lite -- URI COMMAND
//! ```
//!
//! Commands: `list`, `dominfo NAME`, `screenshot NAME FILE`,
//! `events [SECONDS]` (domain lifecycle events). URI is any libvirt URI,
//! e.g. `qemu:///system` or `test+unix:///default?socket=/path/libvirt-sock`.

use std::process::ExitCode;
use std::time::Duration;

use libvirt_proto::api::{ConnectListAllDomainsFlags, DomainEventID, DomainState};
use libvirt_proto::client::{Client, ClientError, DomainEvent};
use libvirt_proto::error::Report;

/// The word virsh prints for a domain state ("running", "shut off").
fn state_name(state: DomainState) -> &'static str {
    state.virsh_name().unwrap_or("no state")
}

async fn list(c: &Client) -> Result<(), ClientError> {
    let all = c
        .list_all_domains(ConnectListAllDomainsFlags::ACTIVE | ConnectListAllDomainsFlags::INACTIVE)
        .await?;
    println!(" {:<5} {:<20} State", "Id", "Name");
    println!("{}", "-".repeat(40));
    for dom in &all {
        let info = dom.get_info().await?;
        let id = if dom.id >= 0 {
            dom.id.to_string()
        } else {
            "-".into()
        };
        println!(" {:<5} {:<20} {}", id, dom.name, state_name(info.state));
    }
    Ok(())
}

async fn dominfo(c: &Client, name: &str) -> Result<(), ClientError> {
    let dom = c.domain_lookup_by_name(name).await?;
    let info = dom.get_info().await?;
    let uuid: String = dom.uuid.iter().map(|b| format!("{b:02x}")).collect();
    println!("Id:             {}", dom.id);
    println!("Name:           {}", dom.name);
    println!(
        "UUID:           {}-{}-{}-{}-{}",
        &uuid[..8],
        &uuid[8..12],
        &uuid[12..16],
        &uuid[16..20],
        &uuid[20..]
    );
    println!("State:          {}", state_name(info.state));
    println!("CPU(s):         {}", info.nr_virt_cpu);
    println!("Max memory:     {} KiB", info.max_mem);
    println!("Used memory:    {} KiB", info.memory);
    Ok(())
}

async fn screenshot(c: &Client, name: &str, file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dom = c.domain_lookup_by_name(name).await?;
    let (mime, mut stream) = dom.screenshot(0, 0).await?;
    // A screen of 8K at 32 bits per pixel is 128 MiB; more is not an image.
    let image = stream.recv_all(128 << 20).await?;
    std::fs::write(file, &image)?;
    println!(
        "Screenshot saved to {file}, {} bytes, {}",
        image.len(),
        mime.as_deref().unwrap_or("unknown type")
    );
    Ok(())
}

async fn events(c: &Client, seconds: u64) -> Result<(), ClientError> {
    let mut lifecycle = c.domain_events(DomainEventID::LIFECYCLE, None).await?;
    println!("Waiting {seconds} s for domain lifecycle events...");
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(Some(event)) = tokio::time::timeout_at(until, lifecycle.next()).await {
        if let DomainEvent::Lifecycle {
            domain,
            event,
            detail,
        } = event?
        {
            // As `virsh event --event lifecycle --loop` prints it.
            println!(
                "event 'lifecycle' for domain '{}': {} {}",
                domain.name,
                event.virsh_name().unwrap_or("unknown"),
                detail.virsh_name().unwrap_or("unknown")
            );
        }
    }
    if lifecycle.lost() > 0 {
        println!("({} events lost)", lifecycle.lost());
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some((uri, command)) = args.split_first() else {
        eprintln!(
            "usage: virsh_lite URI list | dominfo NAME | screenshot NAME FILE | events [SECONDS]"
        );
        return ExitCode::from(2);
    };
    let client = match Client::connect(uri).await {
        Ok(c) => c,
        Err(e) => {
            // The error and its causes on one line.
            eprintln!(
                "error: failed to connect to the hypervisor\nerror: {}",
                Report::new(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = match command {
        ["list"] => list(&client).await.map_err(Into::into),
        ["dominfo", name] => dominfo(&client, name).await.map_err(Into::into),
        ["screenshot", name, file] => screenshot(&client, name, file).await,
        ["events"] => events(&client, 10).await.map_err(Into::into),
        ["events", s] => match s.parse() {
            Ok(s) => events(&client, s).await.map_err(Into::into),
            Err(_) => Err(format!("not a number of seconds: {s}").into()),
        },
        _ => Err("unknown command; try list, dominfo, screenshot or events".into()),
    };
    client.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", Report::new(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
