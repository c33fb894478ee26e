/**
 * The etcd settings Granary's metadata store needs, and the command line of one member of a local
 * cluster (deploy/local-etcd.ts). The limits are exported because an operator's own etcd needs the
 * same ones (deploy/README.md): the metadata service writes a commit as one etcd transaction of
 * many operations, and etcd's defaults (128 operations, 1.5 MiB per request, 2 GiB of data) refuse
 * a large commit or fill up long before the catalog is large.
 */

/**
 * Largest etcd database before etcd raises its NOSPACE alarm and refuses writes. 8 GiB is the most
 * etcd's documentation recommends (above it, start-up and defragmentation slow down); the default
 * of 2 GiB holds too few partitions of a busy cluster.
 */
export const ETCD_QUOTA_BACKEND_BYTES = 8 * 1024 ** 3;

/**
 * Operations one transaction may hold. A commit adds a file record, its partition, stats and the
 * placement of every block in one transaction, so it is all or nothing; the default 128 is a
 * handful of blocks.
 */
export const ETCD_MAX_TXN_OPS = 16_384;

/**
 * Largest request etcd accepts (the default is 1.5 MiB). A commit's transaction carries the
 * records of every block it adds, and a large commit passes 1.5 MiB; etcd's documentation warns
 * against going past 10 MiB (a big request stalls the raft log for every other writer).
 */
export const ETCD_MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/**
 * How much history etcd keeps before it compacts older revisions away (periodic mode). The catalog
 * reads only current values and fences on current mod revisions, so an hour only serves watchers
 * that fell behind; without compaction, every overwritten key stays and the quota fills up.
 */
export const ETCD_AUTO_COMPACTION_RETENTION = '1h';

export const ETCD_MEMBERS_ALLOWED = [1, 3] as const;
/** A local cluster of one member (no fault tolerance) or three (survives the loss of one). */
export type EtcdMemberCount = (typeof ETCD_MEMBERS_ALLOWED)[number];

/** Where one member lives: its name, data directory and loopback ports. */
export interface EtcdMemberLayout {
  readonly name: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

export const ETCD_HOST = '127.0.0.1';

/**
 * TLS on a member's client URL (PEM files). Peer traffic stays plain HTTP on loopback: the peer
 * URLs are part of the recorded membership, so a cluster keeps them whether or not it serves TLS.
 */
export interface EtcdMemberTls {
  /** The member's certificate; it must allow client auth too, since etcd calls its own gRPC gateway with it. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that clients verify the member with, and that client certificates must be signed by. */
  readonly caFile: string;
  /** `--client-cert-auth`: refuse every client (health probes too) without a certificate signed by the CA. */
  readonly clientCertAuth: boolean;
}

/** A member's client URL: https when it serves TLS. */
export function etcdClientUrl(member: EtcdMemberLayout, tls = false): string {
  return `${tls ? 'https' : 'http'}://${ETCD_HOST}:${member.clientPort}`;
}

export function etcdPeerUrl(member: EtcdMemberLayout): string {
  return `http://${ETCD_HOST}:${member.peerPort}`;
}

/**
 * The flags of one member. `state` is `new` for a cluster that has never run, `existing` once any
 * member holds data (etcd then ignores --initial-cluster for members that have data, and a member
 * without data joins the running ones instead of founding a second cluster).
 */
export function etcdMemberArgs(
  member: EtcdMemberLayout,
  members: readonly EtcdMemberLayout[],
  clusterToken: string,
  state: 'new' | 'existing',
  tls?: EtcdMemberTls,
): string[] {
  if (!members.includes(member)) throw new Error(`etcd member ${member.name} is not one of the cluster's members`);
  const clientUrl = etcdClientUrl(member, tls !== undefined);
  return [
    '--name', member.name,
    '--data-dir', member.dataDir,
    // Loopback only: without client certificates a local cluster has no authentication, so
    // nothing off this machine may reach it. Metrics and /health are served on the client URL
    // (no --listen-metrics-urls), over TLS when it has it.
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    ...(tls === undefined
      ? []
      : ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile, ...(tls.clientCertAuth ? ['--client-cert-auth'] : [])]),
    '--listen-peer-urls', etcdPeerUrl(member),
    '--initial-advertise-peer-urls', etcdPeerUrl(member),
    '--initial-cluster', members.map((m) => `${m.name}=${etcdPeerUrl(m)}`).join(','),
    '--initial-cluster-state', state,
    // Member ids derive from it: two local clusters on reused ports never take each other's peers.
    '--initial-cluster-token', clusterToken,
    '--quota-backend-bytes', String(ETCD_QUOTA_BACKEND_BYTES),
    '--max-txn-ops', String(ETCD_MAX_TXN_OPS),
    '--max-request-bytes', String(ETCD_MAX_REQUEST_BYTES),
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', ETCD_AUTO_COMPACTION_RETENTION,
    // capnslog (3.4's default) is deprecated; zap writes one JSON line per event to the member's log.
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
}
