//! The command line, declared with clap's derive API. Only verbs that work
//! are listed; each component's verbs are added here as it lands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ferry: from git push to served traffic in every region, in one binary.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "FERRY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The namespace to work in (default: `default`); before or after the verb, as kubectl takes it
    #[arg(short = 'n', long = "namespace", global = true, value_name = "NS")]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole path on this machine: two regions, a git repo, dev → uk, master → shanghai
    Demo(crate::commands::demo::DemoArgs),
    /// Start every region of a topology (registry, runtime, gateway, API)
    Up(UpArgs),
    /// Check topology files without starting anything
    Validate(ValidateArgs),
    /// Build an image from a Dockerfile (no daemon) and push it or write an OCI layout
    Build(BuildArgs),
    /// Build, push, pull, list and inspect OCI images (local store, any registry)
    #[command(subcommand)]
    Image(crate::commands::image::ImageCommand),
    /// Run an OCI registry on its own, or collect its garbage
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Run the gateway on its own, routing from manifest files
    #[command(subcommand)]
    Gateway(crate::commands::gateway::GatewayCommand),
    /// Show objects of a running region
    #[command(subcommand)]
    Get(GetCommand),
    /// Apply Kubernetes manifests to a region's runtime (all or nothing)
    Apply(crate::commands::apply::ApplyArgs),
    /// Show an object in detail, with its events
    Describe(crate::commands::describe::DescribeArgs),
    /// Delete objects by type and name, or those a manifest defines
    Delete(crate::commands::delete::DeleteArgs),
    /// Print a container's logs
    Logs(crate::commands::logs::LogsArgs),
    /// Run a command in a container
    Exec(crate::commands::exec::ExecArgs),
    /// Forward local ports to a pod's ports (pod/NAME, deploy/NAME or svc/NAME)
    PortForward(crate::commands::port_forward::PortForwardArgs),
    /// Set a Deployment's number of replicas (`scale deploy/NAME --replicas N`)
    Scale(crate::commands::scale::ScaleArgs),
    /// Mark the node (the region) unschedulable: new pods stay Pending, DaemonSet pods excepted
    Cordon(crate::commands::cordon::CordonArgs),
    /// Mark the node (the region) schedulable again
    Uncordon(crate::commands::cordon::CordonArgs),
    /// Cordon the node and evict its pods through the Eviction API, honouring PodDisruptionBudgets
    Drain(crate::commands::drain::DrainArgs),
    /// Follow, undo or restart a Deployment's rollout
    #[command(subcommand)]
    Rollout(crate::commands::rollout::RolloutCommand),
    /// Applications delivered from git: list, get, diff, sync, history, rollback, promote
    #[command(subcommand)]
    App(crate::commands::app::AppCommand),
    /// Kubernetes clusters delivered to: list, get (version, nodes, environments, apps)
    #[command(subcommand)]
    Cluster(crate::commands::cluster::ClusterCommand),
    /// Pipeline runs (build, replicate, deploy) and their steps
    #[command(subcommand)]
    Pipeline(crate::commands::pipeline::PipelineCommand),
    /// Functions as Knative Services: new (from a template), deploy, invoke
    #[command(subcommand)]
    Fn(crate::commands::fn_cmd::FnCommand),
    /// The kinds the region's runtime understands (kubectl's api-resources)
    ApiResources(crate::commands::api_resources::ApiResourcesArgs),
    /// API tokens: create (with a role and scope), list, revoke (admin)
    #[command(subcommand)]
    Token(crate::commands::token::TokenCommand),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Topology file(s); without one, a single region `local` on 127.0.0.1
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Where regions without spec.dataDir keep their state
    #[arg(long, env = "FERRY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print the endpoint table as json or yaml instead of a table
    #[arg(short, long, value_enum)]
    pub output: Option<crate::output::Format>,
    /// Run only this region of the topology; the others run in their own processes, reached at their spec.endpoints
    #[arg(long, value_name = "NAME", requires = "config")]
    pub region: Option<String>,
    /// API listener of the built-in `local` region instead of 127.0.0.1:7070 (without -f; port 0 picks a free port, the table says which)
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub api: Option<std::net::SocketAddr>,
    /// Registry listener of the built-in region instead of 127.0.0.1:5000 (without -f)
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub registry: Option<std::net::SocketAddr>,
    /// Gateway listener of the built-in region instead of 127.0.0.1:8080 (without -f)
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub gateway: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check ('-' reads standard input)
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve an OCI registry (Distribution Spec v1.1) on one address
    Serve(RegistryServeArgs),
    /// Remove blobs and manifests nothing references (safe while serving)
    Gc(RegistryGcArgs),
    /// Print an argon2 hash of a secret read from stdin, for secretHash
    HashSecret,
    /// Replication between regions: status of every ReplicationRule
    #[command(subcommand)]
    Replication(crate::commands::replication::ReplicationCommand),
}

#[derive(Debug, Args)]
pub struct RegistryServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "ADDR")]
    pub addr: std::net::SocketAddr,
    /// Where the registry keeps its data (for a `ferry up` region: <region data dir>/registry)
    #[arg(long, env = "FERRY_REGISTRY_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Registry settings (users, robots, anonymousPull, tls, webhooks) as YAML
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Region name carried by events
    #[arg(long, default_value = "standalone")]
    pub region: String,
}

#[derive(Debug, Args)]
pub struct RegistryGcArgs {
    /// The registry's data directory (as given to `registry serve`)
    #[arg(long, env = "FERRY_REGISTRY_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Report what would be removed without removing it
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove manifests no tag reaches
    #[arg(long)]
    pub untagged: bool,
    /// Keep anything written or used more recently than this (e.g. 30m, 1h, 0s)
    #[arg(long, default_value = "1h", value_parser = crate::commands::registry::parse_duration)]
    pub grace: std::time::Duration,
    /// Remove upload sessions idle longer than this
    #[arg(long, default_value = "24h", value_parser = crate::commands::registry::parse_duration)]
    pub upload_expiry: std::time::Duration,
    /// Print the report as json or yaml
    #[arg(short, long, value_enum)]
    pub output: Option<crate::output::Format>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Image reference(s) to push to (e.g. 127.0.0.1:5000/app:v1); with --output, the names in the layout
    #[arg(short = 't', long = "tag", value_name = "REF")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Build-time variable (NAME=VALUE, or NAME to take it from the environment)
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Build only up to this stage (name or index)
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Write the image as an OCI image layout into DIR instead of pushing
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Run every step again instead of using the layer cache
    #[arg(long)]
    pub no_cache: bool,
    /// Grant an entitlement (repeatable); `network.host` lets `RUN --network=host` use the host's network
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_parser = clap::value_parser!(ferry_build::Entitlement))]
    pub allow: Vec<ferry_build::Entitlement>,
    /// Print only the image digest
    #[arg(short, long)]
    pub quiet: bool,
    /// Data root; the build cache lives in <data root>/build
    #[arg(long, env = "FERRY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The build context directory
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// What each gateway host and path, and each mesh Service, resolves to
    Routes(crate::commands::routes::RoutesArgs),
    /// Pods with their live status
    #[command(visible_alias = "po", alias = "pod")]
    Pods(crate::commands::get::GetArgs),
    /// Deployments
    #[command(visible_alias = "deploy", alias = "deployment")]
    Deployments(crate::commands::get::GetArgs),
    /// ReplicaSets (one per Deployment revision)
    #[command(visible_alias = "rs", alias = "replicaset")]
    Replicasets(crate::commands::get::GetArgs),
    /// Services with their addresses and ports
    #[command(visible_alias = "svc", alias = "service")]
    Services(crate::commands::get::GetArgs),
    /// ConfigMaps
    #[command(visible_alias = "cm", alias = "configmap")]
    Configmaps(crate::commands::get::GetArgs),
    /// Secrets
    #[command(alias = "secret")]
    Secrets(crate::commands::get::GetArgs),
    /// Namespaces
    #[command(visible_alias = "ns", alias = "namespace")]
    Namespaces(crate::commands::get::GetArgs),
    /// Pods, Services, Deployments and ReplicaSets
    All(crate::commands::get::GetArgs),
    /// TYPE/NAME [TYPE/NAME...], as kubectl takes it (`ferry get deploy/web`)
    #[command(external_subcommand)]
    Typed(Vec<String>),
}

impl GetCommand {
    /// Sets the namespace the global `-n` chose.
    pub fn in_namespace(mut self, ns: &str) -> Self {
        match &mut self {
            Self::Pods(a)
            | Self::Deployments(a)
            | Self::Replicasets(a)
            | Self::Services(a)
            | Self::Configmaps(a)
            | Self::Secrets(a)
            | Self::Namespaces(a)
            | Self::All(a) => a.namespace = ns.to_string(),
            Self::Routes(_) | Self::Typed(_) => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn namespace_before_or_after_the_verb() {
        for args in [
            &["ferry", "-n", "team", "apply", "-f", "m.yaml"][..],
            &["ferry", "apply", "-f", "m.yaml", "-n", "team"][..],
            &["ferry", "apply", "--namespace=team", "-f", "m.yaml"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.namespace.as_deref(), Some("team"), "{args:?}");
        }
        let cli = Cli::try_parse_from(["ferry", "get", "pods", "-n", "x"]).unwrap();
        assert_eq!(cli.namespace.as_deref(), Some("x"));
        let cli = Cli::try_parse_from(["ferry", "get", "pods"]).unwrap();
        assert_eq!(cli.namespace, None);
    }

    #[test]
    fn token_create_keeps_its_repeatable_namespace() {
        let cli = Cli::try_parse_from([
            "ferry", "token", "create", "ci", "--role", "viewer", "-n", "a", "-n", "b",
        ])
        .unwrap();
        let Command::Token(crate::commands::token::TokenCommand::Create(c)) = cli.command else {
            panic!("not token create");
        };
        assert_eq!(c.namespaces, ["a", "b"]);
    }
}
