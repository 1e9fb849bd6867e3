#ifndef X_ingest
#define X_ingest
#endif
