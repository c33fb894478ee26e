import { RsWasmCodec } from '../../../erasure/index.js';
import { codecSuite } from './codec-suite.js';

const CODECS = [{ name: 'rs-wasm-v1', make: () => new RsWasmCodec() }];

for (const codec of CODECS) codecSuite(codec.name, codec.make);
