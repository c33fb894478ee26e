import { RsWasmCodec, SimdRsCodec } from '../../../erasure/index.js';
import { codecSuite } from './codec-suite.js';

const CODECS = [
  { name: 'rs-wasm-v1 (library)', make: () => new RsWasmCodec() },
  { name: 'rs-wasm-v1 (SIMD kernel)', make: () => new SimdRsCodec() },
];

for (const codec of CODECS) codecSuite(codec.name, codec.make);
