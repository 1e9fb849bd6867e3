#ifndef X_apply
#define X_apply
#endif
