# lib.sh - sourced by build.sh, certs.sh, up.sh, down.sh (after they set KIT=$(dirname "$0")).
# Defines where all state lives ($K8S_PEERS), the pinned versions, and small helpers.
K8S_PEERS=${K8S_PEERS:-${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}/k8s}
K8S_VERSION=v1.34.4 ETCD_VERSION=v3.6.17 KWOK_VERSION=v0.7.0 REGISTRY_VERSION=v3.1.2 COREDNS_VERSION=v1.15.0
METRICS_SERVER_VERSION=v0.8.0 TRAEFIK_VERSION=v3.6.12
BIN=$K8S_PEERS/bin ROOT=$K8S_PEERS/root PKI=${K8S_PKI:-$K8S_PEERS/pki} RUN=$K8S_PEERS/run
DATA=$K8S_PEERS/data LOGS=$K8S_PEERS/logs CONF=$K8S_PEERS/conf
LIBDIR=$ROOT/usr/lib/$(uname -m)-linux-gnu
REGISTRY=127.0.0.1:5000 POD_SUBNET=10.244.0.0/24 POD_GW=10.244.0.1
NODE=${FERRY_K8S_NODE:-$(hostname -s | tr '[:upper:]' '[:lower:]')}
NETNS=${FERRY_K8S_NETNS:-}
NODE_IP=${FERRY_K8S_NODE_IP:-10.200.0.10}          # only used with a network namespace
ADMIN_TOKEN=${K8S_ADMIN_TOKEN:-peers-admin-token}
API_PORT=${K8S_API_PORT:-6443}   # the test helper (ferry-test-support kube.rs) runs clusters on free ports
PEERS=${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}
export KUBECONFIG=$PKI/admin.kubeconfig
# prefix for commands that must run inside the cluster's network namespace (empty in host mode)
nsx_init() { NSX=(); [ -z "$NETNS" ] || NSX=(nsenter "--net=/run/netns/$NETNS" --); }
nsx_init
