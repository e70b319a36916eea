//! `swarmgate demo` and `swarmgate serve-demo`: the embedded Market API.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{DemoArgs, FaultArgs, ServeDemoArgs};
use crate::demo::{DemoServer, Faults, DEMO_EMAIL, DEMO_PASSWORD};
use crate::scenario::Overrides;

/// The bundled scenario, compiled into the binary so `demo` works anywhere.
pub const DEMO_SCENARIO: &str = include_str!("../../fixtures/market-api.toml");
pub const DEMO_SCENARIO_PATH: &str = "fixtures/market-api.toml";
/// Its baseline: a healthy run of the demo, exact histograms included.
const DEMO_BASELINE: &[u8] = include_bytes!("../../fixtures/market-api-baseline/histograms.json");
const DEMO_BASELINE_PATH: &str = "fixtures/market-api-baseline (built in)";

pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let crate::config::Config {
        mut scenario,
        rules,
    } = crate::config::parse(Path::new(DEMO_SCENARIO_PATH), DEMO_SCENARIO)?;
    super::runtime()?.block_on(async {
        let server = DemoServer::start(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            faults(&args.faults),
        )
        .await?;
        scenario.apply(&Overrides {
            host: Some(server.base_url()),
            duration: Some(args.duration),
            ..Overrides::default()
        })?;
        crate::errln!("demo Market API listening on {}", server.base_url());
        let gate = super::run::Gate {
            rules,
            baseline: Some(crate::results::histograms::run_stats(
                DEMO_BASELINE,
                DEMO_BASELINE_PATH,
            )?),
            update: None,
            history: None,
            spread: None,
            ci: Default::default(),
        };
        let outcome = super::run::swarm(scenario, &args.output, false, gate).await;
        server.stop().await;
        outcome
    })
}

pub fn serve(args: ServeDemoArgs) -> anyhow::Result<ExitCode> {
    // Every connection is a descriptor: raise the limit as far as allowed so
    // the server holds thousands; beyond that, accept() backs off.
    let _ = crate::engine::limits::raise_open_files(0);
    super::runtime()?.block_on(async {
        let server = DemoServer::start(
            SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
            faults(&args.faults),
        )
        .await
        .map_err(|e| {
            crate::CouldNotRun(format!("cannot listen on 127.0.0.1:{}: {e}", args.port))
        })?;
        outln!(
            "demo Market API on {} (log in as {DEMO_EMAIL} / {DEMO_PASSWORD}); Ctrl-C stops it",
            server.base_url()
        );
        tokio::signal::ctrl_c().await?;
        let held = server.time_in_server();
        let ms = |q: f64| held.value_at_quantile(q) as f64 / 1000.0;
        outln!(
            "served {} requests; time in server: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
            held.len(),
            ms(0.5),
            ms(0.9),
            ms(0.99)
        );
        server.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn faults(args: &FaultArgs) -> Faults {
    Faults {
        latency: args.inject_latency,
        jitter: args.inject_jitter,
        error_rate: args.inject_error_rate,
        stall: args.inject_stall_after.zip(args.inject_stall),
        cpu: args.inject_cpu,
        workers: args.workers.map(usize::from),
    }
}
