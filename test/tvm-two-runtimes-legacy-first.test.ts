// See support/two-runtimes-suite.ts: legacy (TVM v0.20) first.
import { defineTwoRuntimesSuite } from './support/two-runtimes-suite.js';

defineTwoRuntimesSuite('legacy');
