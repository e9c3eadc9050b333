/* Empty: built as a library named libOpenCL.so.1 only so that the forwarding library can record a dependency on the ICD loader without the system's development link. */
