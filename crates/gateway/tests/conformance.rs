#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The gateway, in front of the mock upstream, passes the provider suite
//! (`scif_provider::conformance`) that the embedded engine passes too.

use scif_gateway::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_passes_the_provider_suite() {
    let addr = scif_mock_upstream::spawn(Default::default()).await.unwrap();
    let toml = format!(
        "[gateway]\nhealth_check_secs = 0\n\
         [[remote_models]]\nname = \"m\"\nlabel = \"UNCLASSIFIED\"\n\
         [[deployments]]\nname = \"a\"\nmodel = \"m\"\nurl = \"http://{addr}/v1\"\naccreditation = \"UNCLASSIFIED\"\n"
    );
    let cfg = scif_config::Config::from_toml("test", &toml, std::iter::empty()).unwrap();
    let gw = Gateway::new(&cfg).unwrap();
    if let Err(e) = scif_provider::conformance::check(&gw, "m").await {
        panic!("the gateway fails the suite: {e}");
    }
}
