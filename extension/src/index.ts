import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon, runIcon } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';

import { MLOpsClient } from './api';
import { runAsJob } from './dialog';
import { MLOpsPanel } from './panel';

const COMMAND = 'mlops-lab:run-as-job';

const mlopsIcon = new LabIcon({
  name: 'mlops-lab:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<circle cx="5" cy="12" r="2.6"/><circle cx="19" cy="5" r="2.6"/><circle cx="19" cy="19" r="2.6"/>' +
    '<path d="M7.3 11 16.7 6l.8 1.5L8.1 12.5zM7.3 13l9.4 5-.8 1.5L6.5 14.5z"/></g></svg>'
});

/** Adds the "Run as job…" button to each notebook's toolbar. */
class RunAsJobButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private readonly app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'mlops-run-as-job',
      icon: runIcon,
      label: 'Run as job…',
      tooltip: 'Run this notebook as a job (papermill, tracked in MLflow)',
      onClick: () => {
        void this.app.commands.execute(COMMAND, { path: panel.context.path });
      }
    });
    panel.toolbar.insertItem(10, 'mlops-run-as-job', button);
    return button;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlops-lab:plugin',
  description: 'MLOps side panel and the Run as job… dialog',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const client = new MLOpsClient();
    const panel = new MLOpsPanel({
      client,
      open: path => app.commands.execute('docmanager:open', { path })
    });
    panel.title.icon = mlopsIcon;
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(COMMAND, {
      label: 'Run as job…',
      caption: 'Run the current notebook as a job with papermill, tracked in MLflow',
      icon: args => (args.toolbar ? runIcon : undefined),
      isEnabled: () => notebooks.currentWidget !== null,
      execute: async args => {
        const path = args.path as string | undefined;
        const target =
          (path && notebooks.find(p => p.context.path === path)) || notebooks.currentWidget;
        if (!target) {
          return;
        }
        const runId = await runAsJob(client, target);
        if (runId) {
          app.shell.activateById(panel.id);
          await panel.refresh();
        }
      }
    });
    palette?.addItem({ command: COMMAND, category: 'MLOps' });
    app.docRegistry.addWidgetExtension('Notebook', new RunAsJobButton(app));
  }
};

export default plugin;
