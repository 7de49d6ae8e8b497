#include "tests/support/raw_db.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace taskledger::test {

void WithRawDb(const std::string& path, const std::function<void(rocksdb::DB&, RawFamilies&)>& fn) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  RawFamilies by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  fn(*db, by_name);
  for (rocksdb::ColumnFamilyHandle* handle : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
}

void FlushEverything(const std::string& path) {
  WithRawDb(path, [](rocksdb::DB& db, RawFamilies& families) {
    for (const auto& [name, handle] : families) ASSERT_TRUE(db.Flush(rocksdb::FlushOptions(), handle).ok()) << name;
  });
}

}  // namespace taskledger::test
