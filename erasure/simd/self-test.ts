/**
 * The start-up self-test of a fast `rs-wasm-v1` kernel, as MinIO runs one: known answers (parity
 * made by the reed-solomon-erasure library, frozen here) and rebuilds of erased shards. A kernel
 * that disagrees in one byte would write blocks no other implementation can repair, so a failure
 * is an error the process must not run past, not a warning.
 *
 * The vectors cover every kernel entry (1 to 4 outputs per pass, several passes for m > 4),
 * shards shorter than one 32-byte step, tails that are not a multiple of 16, and shards spanning
 * several column slices. test/unit/erasure/known-answers.test.ts keeps its own, older vectors.
 */
import { ErasureError } from '../errors.js';

/** The part of a codec the self-test drives (synchronously: it runs while modules load). */
export interface SyncRsCodec {
  encodeParitySync(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void;
  reconstructDataSync(shards: readonly Uint8Array[], present: readonly boolean[], dataShardCount: number): void;
}

/** Shard i byte j of every vector (the known-answers test uses the same pattern). */
export function vectorData(k: number, shardBytes: number): Uint8Array[] {
  return Array.from({ length: k }, (_, i) => {
    const shard = new Uint8Array(shardBytes);
    for (let j = 0; j < shardBytes; j++) shard[j] = (i * 251 + j * 13 + (j >> 8) * 7) & 255;
    return shard;
  });
}

/** Parity shards in hex, one after another. */
const EXACT_VECTORS: readonly { k: number; m: number; shardBytes: number; parity: string }[] = [
  { k: 1, m: 1, shardBytes: 8, parity: '000d1a2734414e5b' },
  { k: 4, m: 2, shardBytes: 45, parity:
      '29fd5393a589345274b9039bedd52283d12c1983bd70b798e4d4fb4ba7c5687ac6e6f3ee45e7fdf2aed9ec3b4de0d224' +
      '96c6f9263f578cfe9e9ee80dc38279ae86443df835c7e19c4e14f84707757384eb264a729f8dec6b3e3e',
  },
  { k: 6, m: 3, shardBytes: 40, parity:
      '30204c192e56cd1d722f8e61d693f8f8fab71c8924bb60cd625f4451864388152a67ecf94e6b30bdc7d55f04012bbe08' +
      '651a7d6cc99ecb8deda22fb4cba673f8554a575cb94e9b001d52ffe4215603a80c0da18fc1c1561bdd86ac6803e80348' +
      '2735c86855fbb0f2ba7787646a430372dddc0199b94ed9bb',
  },
  { k: 10, m: 4, shardBytes: 33, parity:
      'b153059efad07345f4a748364ac79e3e34edb72bcc46e525e1dbcdb2f8ea2de4f0d00fc3e6af4cab354e2d254e8832a2' +
      '2d938dcba95f53926fc1ab66d980ffeb8451b999f17adf0cba11676f53a296b3d4b4ad39810b88fdd965eb2147b7e6e4' +
      'a4265704fa4fa912664ccaa51de2612446c391d1fade79a4e811dfe8f237eab5f112fd2a',
  },
  { k: 17, m: 7, shardBytes: 50, parity:
      '3b12ba039401b3f847a40c0f61666e1f4b788d23bde61179b45fa6df9673143a295c1ab5a21342587caa7aef6d765891' +
      'ebbc4b38fd7edd23586a2587e286d8833c4d25a73b3270a5d52f83d2be70de502f8065c80f89dfc0c30f506dd4cfb8a0' +
      '3e74e2478619e47c2a591c9fa19e7fa05cd00de9292cee4c362ab32ef2d6d85f56b2914214c61627127269fab5af0ce9' +
      '2a503541ee350a73f346d0e857591c6fd1db4aa0f933040813f8fab500fff34feb383eeefc27c5d7577e47600b0e4ddb' +
      'c3e29ee86e3b18848180cc3f9e5aab69df6a522893501cee533db87a6e3a771f9d3615adce0c03f3699d6808f11a6b3e' +
      'ef080511e1bb73bf4fd3d690e87f055d0195c2f53a45a0a4adab9cdd87498e04f0ceec033892e6727d39cdfdcdff59ff' +
      '1abd6f61d7c621c6f1151d62f77316bd47dfabb388a271b0052bea49b4fbe17c632375ae5ac4c1726628313b7ff5339b' +
      '260fe99bbefc0a338bf98b6b3541',
  },
  { k: 3, m: 5, shardBytes: 17, parity:
      '0d061f18314a435c556e87809992abc4dd85015e93a8a74a0f84190f9be075d20d7c7e045196b3da4d028f1cf09eeb78' +
      'd57067730f54a9b6d14005b207f591ee43c8776a880a5bacadac4708b9020a94e54ecf0a71',
  },
  { k: 20, m: 8, shardBytes: 37, parity:
      '16a01b93a9d6ebb9f6db1bc61e3c7f0215a9909524d517d90cd81f6df5e64c9135bb274989ccaa15f521c22379a91d2c' +
      '7415bb2b44e85fedb065da1c1bf3fd0e15f0d4d1c18387b48da0cd0cd5e78a43b9fdf529eb5bc8f3fe301b1c510868b8' +
      '90e75bf4271951dc3a20beb2006bcae78007ecbdf532ddf42da3f9626f3d91a27f37600bcfac165dc907eb32e6846d02' +
      'db0fd135995f357eac6ff9271e22833a98ef1f14e969331cb30c12b2711ac42123371899aa60a0b0b83fef33b15a3aa2' +
      'eb2a7f3fbce968460d997f38c863243cc4643b1b40739b8e99eccbf5d483b8b21f276a84be39ef6dcbab54ff14af4587' +
      '6b5622a4d25486438c08b12d73520774fe1bd6782e7bc4b6e1eb05e9107d2d6b684fb2cf5556aed4e46e1ab57abd31fb' +
      '999b2ebfdb89bb77',
  },
];

/** Larger vectors, checked by the 32-bit FNV-1a of each parity shard. */
const HASHED_VECTORS: readonly { k: number; m: number; shardBytes: number; fnv1a: readonly number[] }[] = [
  { k: 6, m: 3, shardBytes: 40000, fnv1a: [0x22b2841c, 0x364daa88, 0xcfff5ec4] },
  { k: 32, m: 16, shardBytes: 1000, fnv1a: [
      0x8d497650, 0xc578ca6b, 0xba647067, 0x5832a601,
      0x7de71a45, 0xf08e008c, 0x4c177bac, 0xbb227291,
      0x095292a6, 0x6ef0b024, 0x9bb5fd57, 0xc3ee0bc2,
      0x1b8824d3, 0x4660eeae, 0x36447ade, 0x5626f929,
    ],
  },
];

function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193) >>> 0;
  return hash;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function fail(kernel: string, what: string): never {
  throw new ErasureError(
    'GRN_ERASURE_SELF_TEST_FAILED',
    `erasure kernel "${kernel}" failed its start-up self-test: ${what}. Its parity would differ from ` +
      'the reed-solomon-erasure library (codec rs-wasm-v1), so Granary refuses to run with it; ' +
      'set GRANARY_ERASURE_KERNEL=library to use the library and report this host (CPU, Node version)',
  );
}

/**
 * Erases `erased` shards of `all` (k data then m parity) and checks the codec rebuilds the data
 * shards among them from the others.
 */
function checkRebuild(codec: SyncRsCodec, kernel: string, all: readonly Uint8Array[], k: number, erased: readonly number[]): void {
  const present = all.map((_, i) => !erased.includes(i));
  const shards = all.map((shard, i) => (present[i] === true ? shard : new Uint8Array(shard.length)));
  codec.reconstructDataSync(shards, present, k);
  for (const index of erased) {
    if (index < k && !equal(shards[index] as Uint8Array, all[index] as Uint8Array)) {
      fail(kernel, `RS ${k}+${all.length - k}, ${(all[0] as Uint8Array).length}-byte shards: shard ${index} rebuilt without shards ${erased.join(', ')} differs`);
    }
  }
}

/** Runs every vector; throws ErasureError GRN_ERASURE_SELF_TEST_FAILED on the first mismatch. */
export function runKernelSelfTest(codec: SyncRsCodec, kernel: string): void {
  const cases = [
    ...EXACT_VECTORS.map((v) => ({ ...v, check: (p: Uint8Array, j: number) => Buffer.from(p).toString('hex') === v.parity.slice(2 * j * v.shardBytes, 2 * (j + 1) * v.shardBytes) })),
    ...HASHED_VECTORS.map((v) => ({ ...v, check: (p: Uint8Array, j: number) => fnv1a(p) === v.fnv1a[j] })),
  ];
  for (const { k, m, shardBytes, check } of cases) {
    const data = vectorData(k, shardBytes);
    const parity = Array.from({ length: m }, () => new Uint8Array(shardBytes));
    codec.encodeParitySync(data, parity);
    parity.forEach((shard, j) => {
      if (!check(shard, j)) fail(kernel, `RS ${k}+${m} over ${shardBytes}-byte shards: parity shard ${j} differs from the known answer`);
    });
    const all = [...data, ...parity];
    // The first m data shards, then a mix of data and parity: both rebuild paths, several passes.
    checkRebuild(codec, kernel, all, k, Array.from({ length: Math.min(m, k) }, (_, i) => i));
    checkRebuild(codec, kernel, all, k, Array.from({ length: m }, (_, i) => (i % 2 === 0 ? k + m - 1 - i : k - 1 - i)).filter((i) => i >= 0));
  }
}
