// The back-office's keyboard shortcuts, said on the pages that offer them (and by
// aria-keyshortcuts on their targets): j next, k previous (proposal or page), t take the
// proposal, / search the list. Keys typed in a form field stay in the field.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const typing = event.target instanceof Element &&
    event.target.closest("input, textarea, select, [contenteditable]");
  if (typing) return;
  const press = (selector) => {
    const target = document.querySelector(selector);
    if (target) {
      event.preventDefault();
      target.click();
    }
  };
  if (event.key === "j") press('a[rel="next"]');
  else if (event.key === "k") press('a[rel="prev"]');
  else if (event.key === "t") press('[data-shortcut="t"]');
  else if (event.key === "/") {
    const search = document.querySelector("#f-q");
    if (search) {
      event.preventDefault();
      const fold = search.closest("details");
      if (fold) fold.open = true;
      search.focus();
    }
  }
});

// The lists' bulk form: a box in the table's heading ticks (or unticks) every row of the
// page. Without JavaScript it stays hidden, and the form's "all proposals on this page"
// does the same.
const pickAll = document.querySelector("#pick-all");
if (pickAll) {
  const rows = [...document.querySelectorAll('input[type="checkbox"][form="bulk"][name="ref"]')];
  const sync = () => {
    const ticked = rows.filter((box) => box.checked).length;
    pickAll.checked = ticked === rows.length;
    pickAll.indeterminate = ticked > 0 && ticked < rows.length;
  };
  pickAll.closest(".pick-all").hidden = false;
  pickAll.addEventListener("change", () => {
    for (const box of rows) box.checked = pickAll.checked;
  });
  for (const box of rows) box.addEventListener("change", sync);
  sync();
}
