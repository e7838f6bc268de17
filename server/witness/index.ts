/**
 * The tlog-witness module (c2sp.org/tlog-witness) for embedding, e.g. in an auditor:
 *
 *   const witness = await Witness.open({ dir, cosigner: newCosigner(name, seed), logs: [{ origin, vkeys }] });
 *   const handler = createWitnessHandler(witness, { prefix: '/witness' });   // node:http or express middleware
 *   …
 *   await witness.close();
 */
export { Witness, originHash, parseKnownLog, type KnownLog, type WitnessOptions, type WitnessResponse } from './witness.js';
export { createWitnessHandler, MAX_BODY_BYTES, type WitnessHandler, type WitnessHandlerOptions } from './http.js';
