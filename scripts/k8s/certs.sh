#!/usr/bin/env bash
# certs.sh - (re)creates the cluster CA, component certificates (ECDSA P-256) and kubeconfigs in $K8S_PEERS/pki
# for node $NODE (plus $NODE_IP in netns mode); also a static bearer token for curl and non-Go clients. Run by up.sh
# and by ferry's test helper (K8S_PKI=<its temp dir> K8S_API_PORT=<free port>).
set -euo pipefail
KIT=$(cd "$(dirname "$0")" && pwd); . "$KIT/lib.sh"
rm -rf "$PKI"; mkdir -p "$PKI"; cd "$PKI"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }
key ca; openssl req -x509 -new -key ca.key -subj /CN=k8s-peers-ca -days 3650 -out ca.crt
key sa; openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
mk() { # name CN O [SAN]; signed by $CA (default ca)
  key "$1"; local ext="extendedKeyUsage=clientAuth" ca=${CA:-ca}; [ -z "${4:-}" ] || ext="subjectAltName=$4"$'\n'"extendedKeyUsage=serverAuth,clientAuth"
  openssl req -new -key "$1.key" -subj "/CN=$2${3:+/O=$3}" | openssl x509 -req -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -days 3650 -out "$1.crt" -extfile <(echo "$ext") 2>/dev/null; }
san="IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
mk apiserver kube-apiserver "" "$san${NETNS:+,IP:$NODE_IP}"
mk apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
mk admin admin system:masters; mk kwok kwok system:masters
mk controller-manager system:kube-controller-manager ""; mk scheduler system:kube-scheduler ""
mk kube-proxy system:kube-proxy ""; mk kubelet "system:node:$NODE" system:nodes
# the aggregation layer (kubeadm's front-proxy CA): the API server proxies to extension API servers such as
# metrics-server with this client certificate, and they trust the user headers of requests signed by this CA only
key front-proxy-ca; openssl req -x509 -new -key front-proxy-ca.key -subj /CN=front-proxy-ca -days 3650 -out front-proxy-ca.crt
CA=front-proxy-ca mk front-proxy-client front-proxy-client ""
echo "$ADMIN_TOKEN,admin,admin,system:masters" >tokens.csv
for u in admin controller-manager scheduler kubelet kube-proxy kwok; do cat >"$u.kubeconfig" <<KC; done
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: $u, user: {client-certificate: "$PKI/$u.crt", client-key: "$PKI/$u.key"}}]
contexts: [{name: local, context: {cluster: local, user: $u}}]
current-context: local
KC
echo "$NODE ${NETNS:+$NODE_IP}" >.node
