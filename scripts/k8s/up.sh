#!/usr/bin/env bash
# up.sh [api|node] [--netns NAME] [--proxy] - starts Kubernetes from the binaries build.sh put in $K8S_PEERS.
# api: etcd, apiserver, controller-manager, scheduler, kwok. node (default): + registry with pause/app images, containerd, kubelet.
# --netns NAME (or FERRY_K8S_NETNS=NAME) runs all of it inside a new network namespace; clients use `ip netns exec NAME ...`.
set -euo pipefail
KIT=$(cd "$(dirname "$0")" && pwd); . "$KIT/lib.sh"
MODE=node PROXY=${FERRY_K8S_PROXY:-0}
while (($#)); do case $1 in api|node) MODE=$1;; --netns) NETNS=$2; shift;; --proxy) PROXY=1;;
  *) echo "usage: $0 [api|node] [--netns NAME] [--proxy]" >&2; exit 2;; esac; shift; done
export FERRY_K8S_NETNS=$NETNS; nsx_init
KADDR=127.0.0.1 PREF=Hostname,InternalIP   # host mode: kubelet on loopback, reached via the node name
[ -z "$NETNS" ] || KADDR=$NODE_IP PREF=InternalIP,Hostname
[ -x "$BIN/kube-apiserver" ] || { echo "no binaries in $BIN: run build.sh first" >&2; exit 1; }
if [ -s "$RUN/etcd.pid" ] && kill -0 "$(cat "$RUN/etcd.pid")" 2>/dev/null; then echo "already up: run down.sh" >&2; exit 1; fi
mkdir -p "$RUN" "$LOGS" "$DATA" "$CONF/cni" "$CONF/certs.d/$REGISTRY"; rm -rf "$DATA/etcd" "$DATA/cni-ipam"
t0=$EPOCHREALTIME; el() { awk -v a="$t0" -v b="$EPOCHREALTIME" -v s="$1" 'BEGIN{printf "  %-22s %6.2fs\n", s, b-a}'; }
waitfor() { local what=$1 i; shift; for i in $(seq 600); do if "$@" >/dev/null 2>&1; then el "$what"; return 0; fi; sleep 0.1; done
  echo "timeout waiting for $what (logs: $LOGS)" >&2; exit 1; }
start() { local n=$1; shift; nohup "${NSX[@]}" "$@" >"$LOGS/$n.log" 2>&1 </dev/null & echo $! >"$RUN/$n.pid"; }
# push_image ROOTFS REPO:TAG MUTATE-FLAGS...: a one-layer image of ROOTFS pushed with the pinned crane (setup.sh --test-peers)
push_image() { local root=$1 ref=$REGISTRY/$2; shift 2; tar --owner=0 --group=0 --mtime=@0 -C "$root" -cf "$RUN/layer.tar" .
  "${NSX[@]}" "$PEERS/crane" append --insecure -f "$RUN/layer.tar" -t "$ref" >/dev/null
  "${NSX[@]}" "$PEERS/crane" mutate --insecure "$@" "$ref" >/dev/null; rm -f "$RUN/layer.tar"; }
render() { sed -e "s|@K8S_PEERS@|$K8S_PEERS|g; s|@ROOT@|$ROOT|g; s|@REGISTRY@|$REGISTRY|g; s|@NODE@|$NODE|g" \
  -e "s|@KUBELET_ADDR@|$KADDR|g; s|@POD_SUBNET@|$POD_SUBNET|g; s|@POD_GW@|$POD_GW|g" "$KIT/templates/$1" >"$2"; }
# host paths that kubelet/containerd/CNI/ip-netns may create: remember which were absent (down.sh --purge-host removes only those)
[ -f "$K8S_PEERS/host-created" ] || for p in /var/lib/kubelet /var/lib/cni /run/containerd /var/log/containers /run/netns; do
  [ -e "$p" ] || echo "$p"; done >"$K8S_PEERS/host-created"
if [ -n "$NETNS" ]; then   # lo + a NIC with a non-loopback node IP (kubelet refuses loopback) + default route into it
  ip netns add "$NETNS"; echo "$NETNS" >"$RUN/netns"; ip -n "$NETNS" link set lo up
  # a dummy NIC; kernels without the dummy driver get a veth pair whose both ends stay inside the namespace
  ip -n "$NETNS" link add k8s-node0 type dummy 2>/dev/null || ip -n "$NETNS" link add k8s-node0 type veth peer name k8s-node0p
  ip -n "$NETNS" link set k8s-node0p up 2>/dev/null || true
  ip -n "$NETNS" addr add "$NODE_IP/32" dev k8s-node0; ip -n "$NETNS" link set k8s-node0 up
  ip -n "$NETNS" route add default dev k8s-node0; el "netns $NETNS"
fi
[ "$(cat "$PKI/.node" 2>/dev/null)" = "$NODE ${NETNS:+$NODE_IP}" ] || { "$KIT/certs.sh"; el certs; }
start etcd "${ETCD:-$BIN/etcd}" --name peers --data-dir "$DATA/etcd" --unsafe-no-fsync --quota-backend-bytes 2147483648 \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 --listen-metrics-urls http://127.0.0.1:2381 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster peers=http://127.0.0.1:2380
waitfor etcd-ready "${NSX[@]}" curl -sf http://127.0.0.1:2379/health
start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 --secure-port="$API_PORT" --endpoint-reconciler-type=none --profiling=false \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
  --token-auth-file="$PKI/tokens.csv" --authorization-mode=Node,RBAC --allow-privileged=true \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=10.96.0.0/16 \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types="$PREF" --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key"
waitfor apiserver-ready "${NSX[@]}" curl -sfk -H "Authorization: Bearer $ADMIN_TOKEN" https://127.0.0.1:$API_PORT/readyz
K=$PKI/controller-manager.kubeconfig
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$K" --authentication-kubeconfig="$K" \
  --authorization-kubeconfig="$K" --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16 --service-cluster-ip-range=10.96.0.0/16 \
  --kube-api-qps="${FERRY_K8S_CM_QPS:-20}" --kube-api-burst="$(( ${FERRY_K8S_CM_QPS:-20} * 3 / 2 ))"
K=$PKI/scheduler.kubeconfig
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$K" --authentication-kubeconfig="$K" \
  --authorization-kubeconfig="$K" --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
waitfor default-sa-exists "${NSX[@]}" "$BIN/kubectl" get sa default -n default
start kwok "$BIN/kwok" --kubeconfig="$PKI/kwok.kubeconfig" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --cidr=10.250.0.0/16 --node-ip=10.250.255.254
if [ "$MODE" = node ]; then
  render registry-config.yml "$CONF/registry.yml"; render hosts.toml "$CONF/certs.d/$REGISTRY/hosts.toml"
  render containerd-config.toml "$CONF/containerd.toml"; render cni.conflist "$CONF/cni/10-peers.conflist"
  render kubelet-config.yaml "$CONF/kubelet.yaml"; render kube-proxy.yaml "$CONF/kube-proxy.yaml"
  start registry env OTEL_TRACES_EXPORTER=none "$BIN/registry" serve "$CONF/registry.yml"
  waitfor registry-ready "${NSX[@]}" curl -sf "http://$REGISTRY/v2/"
  push_image "$K8S_PEERS/images/pause-root" pause:3.10 --entrypoint=/pause
  push_image "$K8S_PEERS/images/app-root" app:1 --entrypoint=/bin/busybox --cmd=httpd,-f,-v,-p,8080,-h,/www; el images-pushed
  # host mode: the CNI bridge plugin (isGateway) turns on the host's ip_forward; down.sh --purge-host restores it
  [ -n "$NETNS" ] || [ -f "$K8S_PEERS/ipfwd-before" ] || cat /proc/sys/net/ipv4/ip_forward >"$K8S_PEERS/ipfwd-before"
  start containerd env PATH="$ROOT/usr/bin:$ROOT/usr/sbin:$PATH" "$ROOT/usr/bin/containerd" --config "$CONF/containerd.toml"
  waitfor containerd-up test -S "$RUN/containerd/containerd.sock"
  start kubelet env PATH="$ROOT/usr/bin:$ROOT/usr/sbin:$PATH" "$BIN/kubelet" --config="$CONF/kubelet.yaml" \
    --kubeconfig="$PKI/kubelet.kubeconfig" --root-dir="$DATA/kubelet" --cert-dir="$DATA/kubelet/pki" \
    --hostname-override="$NODE" ${NETNS:+--node-ip=$NODE_IP} --v=2
  waitfor node-ready "${NSX[@]}" "$BIN/kubectl" wait --for=condition=Ready "node/$NODE" --timeout=1s
  if [ "$PROXY" = 1 ]; then touch "$RUN/.proxy-used"; [ -n "$NETNS" ] || touch "$K8S_PEERS/proxy-host-used"
    start kube-proxy env PATH="$K8S_PEERS/sbin:$PATH" LD_LIBRARY_PATH="$LIBDIR" XTABLES_LIBDIR="$LIBDIR/xtables" \
      "$BIN/kube-proxy" --config="$CONF/kube-proxy.yaml"
    waitfor kube-proxy-healthy "${NSX[@]}" curl -sf http://127.0.0.1:10256/healthz
  fi
fi
echo "up ($MODE${NETNS:+, netns $NETNS}, node $NODE): API https://127.0.0.1:$API_PORT, KUBECONFIG=$KUBECONFIG, token $ADMIN_TOKEN"
echo "  e.g. ${NETNS:+ip netns exec $NETNS }$BIN/kubectl get nodes"
