/** The model directory that a build writes; docs/artifact-contract.md is its contract. */
export { parseWeightIndex, readWeightIndex, readWeightIndexFile, findIndexFile, INDEX_FILE_NAMES, type WeightIndex, type WeightShard, type WeightRecord, type RecordFormat } from './weight-index.js';
export { loadWeights, expandBf16, type ModelWeights, type LoadWeightsOptions, type WeightLoadProgress } from './weight-loader.js';
export { summarizeWeights, type WeightSummary } from './weight-summary.js';
export { executableAbi, executableMachine, hostMachine, assertExecutableRunsHere, assertExecutableMatchesRuntime, abiMismatchRemedy, readDynamicSymbols, tvmVersionOfExecutableAbi, LEGACY_BLOB_SYMBOL, FFI_BLOB_SYMBOL, type ExecutableAbi } from './executable-abi.js';
