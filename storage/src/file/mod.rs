pub struct FileStore; pub struct FileStoreOptions; pub struct RecoveryReport; pub enum SyncPolicy{}
