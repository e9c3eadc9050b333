/** `sd-mali/build`: compile an SD 1.x checkpoint into a model directory (drives the Python compile flow). */
export { build, BUILD_DTYPES, BUILD_TARGETS, type BuildDtype, type BuildOptions, type BuildProgress, type BuildResult, type BuildTarget, type LoraInput } from './build.js';
export { BuildError, BuildToolsMissingError, type BuildFailureCode } from './errors.js';
export { findBuildPython, type BuildPython } from './find-python.js';
export { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, type FunctionSignature, type ModelManifest, type TensorSignature } from './manifest.js';
export { readManifest } from './read-manifest.js';
