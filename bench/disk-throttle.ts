/**
 * One emulated hard disk per storage node: each node process is put in a cgroup (v1 blkio) of
 * its own that caps the reads it makes from the block device under its data directory at
 * `iops` reads and `bytesPerSecond` bytes a second. The disks the re-layout cost model and the
 * hot-column cache are about (Tectonic's, a few hundred random reads a second each) are then the
 * limit, instead of this VM's virtual disk, which answers a random 64 KiB read in 0.2 ms.
 *
 * The limits count the block layer's requests (readahead included), which is what a disk sees;
 * buffered writes are not throttled, so writing the tables stays fast. Linux only, root only,
 * and only where /sys/fs/cgroup/blkio exists; `open` says why it cannot otherwise.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BLKIO_ROOT = '/sys/fs/cgroup/blkio';

export interface DiskLimits {
  /** Block-layer reads a second per node. */
  readonly iops: number;
  /** Bytes a second per node. */
  readonly bytesPerSecond: number;
}

export class DiskThrottleError extends Error {
  readonly code = 'BENCH_DISK_THROTTLE';
}

/**
 * `major:minor` of the disk holding `path`. The blkio controller throttles whole disks only, so a
 * partition is traded for the disk it is on.
 */
function diskOf(path: string): string {
  const dev = statSync(path).dev;
  // Linux's encoding of dev_t (glibc's gnu_dev_major / gnu_dev_minor) below 2^32.
  const id = `${(dev >>> 8) & 0xfff}:${(dev & 0xff) | ((dev >>> 12) & 0xfff00)}`;
  const sysfs = `/sys/dev/block/${id}`;
  if (!existsSync(sysfs)) {
    throw new DiskThrottleError(`${path} is not on a block device (device ${id}: tmpfs or overlay?); put the cluster's directory on a disk to throttle it`);
  }
  if (!existsSync(join(sysfs, 'partition'))) return id;
  return readFileSync(join(realpathSync(sysfs), '..', 'dev'), 'utf8').trim();
}

export class DiskThrottle {
  private readonly groups = new Map<string, string>();

  private constructor(
    private readonly device: string,
    readonly limits: DiskLimits,
    private readonly prefix: string,
  ) {}

  /** Checks that throttling can work for data under `dataRoot`. */
  static open(dataRoot: string, limits: DiskLimits): DiskThrottle {
    if (!(limits.iops > 0 && limits.bytesPerSecond > 0)) throw new DiskThrottleError('disk limits want positive reads and bytes a second');
    if (!existsSync(join(BLKIO_ROOT, 'cgroup.procs'))) throw new DiskThrottleError(`${BLKIO_ROOT} is not a cgroup v1 blkio hierarchy here; disk throttling needs it`);
    return new DiskThrottle(diskOf(dataRoot), limits, `granary-bench-${process.pid}`);
  }

  /** Moves `pid` into the disk named `name` (made on first use), so its reads pay that disk's limits. */
  place(name: string, pid: number): void {
    let group = this.groups.get(name);
    if (group === undefined) {
      group = join(BLKIO_ROOT, `${this.prefix}-${name}`);
      mkdirSync(group, { recursive: true });
      writeFileSync(join(group, 'blkio.throttle.read_iops_device'), `${this.device} ${Math.round(this.limits.iops)}\n`);
      writeFileSync(join(group, 'blkio.throttle.read_bps_device'), `${this.device} ${Math.round(this.limits.bytesPerSecond)}\n`);
      this.groups.set(name, group);
    }
    writeFileSync(join(group, 'cgroup.procs'), `${pid}\n`);
  }

  /**
   * Removes the groups (the processes in them must have exited: a group with members cannot be
   * removed). Every group is tried; the first failure is thrown after.
   */
  close(): void {
    let failure: unknown;
    for (const group of this.groups.values()) {
      try {
        rmdirSync(group);
      } catch (error) {
        failure ??= error;
      }
    }
    this.groups.clear();
    if (failure !== undefined) throw failure;
  }

  describe(): string {
    return `each node's reads capped at ${this.limits.iops} a second and ${(this.limits.bytesPerSecond / 1e6).toFixed(0)} MB/s (cgroup blkio on device ${this.device})`;
  }
}
