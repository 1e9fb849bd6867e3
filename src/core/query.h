#ifndef X_query
#define X_query
#endif
