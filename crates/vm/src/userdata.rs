//! Full userdata: an opaque host value with a metatable and a stable id.

use std::any::Any;

use gc_arena::lock::Lock;
use gc_arena::{Collect, Gc};

use crate::state::Context;
use crate::table::Table;

#[derive(Collect)]
#[collect(no_drop)]
pub struct UserDataInner<'gc> {
    #[collect(require_static)]
    pub(crate) id: u64,
    pub(crate) metatable: Lock<Option<Table<'gc>>>,
    #[collect(require_static)]
    pub(crate) gc_flags: std::cell::Cell<u8>,
    #[collect(require_static)]
    pub(crate) data: Box<dyn Any>,
}

#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct UserData<'gc>(pub(crate) Gc<'gc, UserDataInner<'gc>>);

impl<'gc> UserData<'gc> {
    pub fn new<T: 'static>(ctx: Context<'gc>, data: T) -> Self {
        UserData(Gc::new(
            ctx.mutation(),
            UserDataInner {
                id: ctx.next_object_id(),
                metatable: Lock::new(None),
                gc_flags: std::cell::Cell::new(0),
                data: Box::new(data),
            },
        ))
    }

    pub fn id(self) -> u64 {
        self.0.id
    }

    pub fn downcast<T: 'static>(self) -> Option<&'gc T> {
        Gc::as_ref(self.0).data.downcast_ref()
    }

    pub fn metatable(self) -> Option<Table<'gc>> {
        self.0.metatable.get()
    }

    pub fn set_metatable(self, ctx: Context<'gc>, mt: Option<Table<'gc>>) {
        gc_arena::barrier::unlock!(Gc::write(ctx.mutation(), self.0), UserDataInner, metatable)
            .set(mt);
    }
}
