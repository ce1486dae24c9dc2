/* keeps the support library non-empty */
int vqcore_testsupport_empty;
