/**
 * parquet-wasm's WebAssembly module, compiled once per process and handed to every reading thread
 * (a compiled module crosses to a worker thread without being compiled again, and V8 shares its
 * code, optimised tiers included). Each file read starts a thread of its own (reading-thread.ts);
 * with the package's Node build every thread compiled the 5 MB module itself, which made reading
 * many small files mostly compiling.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** A compiled WebAssembly.Module (@types/node 20 does not declare the WebAssembly global). */
export type CompiledDecoder = { readonly __compiledWasmModule: never };
const WebAssemblyApi = (globalThis as unknown as { readonly WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledDecoder> } }).WebAssembly;

let compiled: Promise<CompiledDecoder> | undefined;

/** The decoder's module; the first call compiles it (off the main thread, in V8's background tasks). */
export function decoderModule(): Promise<CompiledDecoder> {
  if (compiled === undefined) {
    const compiling = (async () => {
      const path = createRequire(import.meta.url).resolve('parquet-wasm/esm/parquet_wasm_bg.wasm');
      return WebAssemblyApi.compile(await readFile(path));
    })();
    compiled = compiling;
    // A failed compile (a damaged install) is reported to its callers and tried again by the next.
    compiling.catch(() => {
      if (compiled === compiling) compiled = undefined;
    });
  }
  return compiled;
}
