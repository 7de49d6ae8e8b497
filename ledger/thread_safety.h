// A mutex, a scoped lock and a condition variable that clang's thread-safety analysis
// (-Wthread-safety, on in every clang build; CI's clang stage makes it an error) can
// check: members marked GUARDED_BY(mutex_) are touched only with mutex_ held, and
// functions marked REQUIRES(mutex_) are called only with it held. With GCC the
// annotations are empty and the types are std::mutex and std::condition_variable.
// The shape follows Abseil's Mutex/MutexLock/CondVar and clang's documentation.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define TL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TL_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TL_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TL_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TL_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TL_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) TL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) TL_THREAD_ANNOTATION(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS TL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace taskledger {

// Not recursive. Thread-safe, of course.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mutex_.lock(); }
  void Unlock() RELEASE() { mutex_.unlock(); }
  // Tells the analysis the caller holds it (where it cannot see that, e.g. a callback).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mutex_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_->Lock(); }
  ~MutexLock() RELEASE() { mutex_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mutex_;
};

// Waits release the mutex while blocked and hold it again when they return, as
// std::condition_variable does; callers re-check their condition in a loop.
class CondVar {
 public:
  void Wait(Mutex* mutex) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held: the caller's MutexLock unlocks it
  }
  // False if the timeout passed first.
  template <class Rep, class Period>
  bool WaitFor(Mutex* mutex, std::chrono::duration<Rep, Period> timeout) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    const bool woken = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace taskledger
