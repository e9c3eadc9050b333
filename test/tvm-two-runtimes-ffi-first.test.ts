// See support/two-runtimes-suite.ts: tvm-ffi (TVM v0.26) first.
import { defineTwoRuntimesSuite } from './support/two-runtimes-suite.js';

defineTwoRuntimesSuite('tvm-ffi');
