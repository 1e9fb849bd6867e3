#ifndef X_ledger
#define X_ledger
#endif
