#ifndef X_access
#define X_access
#endif
